"""API accounts: register, log in and out, who am I."""
from flask import abort, g, request

from .. import accounts, addresses, throttle
from ..errors import ValidationError, WrongPasswordError
from ..rules import REGISTER, clean_email, clean_fields, clean_password, is_encodable
from .blueprint import bp
from .http import auth_required, json_body, user_json


@bp.post("/auth/register")
def register():
    data = REGISTER.clean(json_body())
    throttle.registration()
    user = accounts.register(data["username"], data["password"], data.get("full_name"),
                             email=data.get("email"))
    return user_json(user), 201


@bp.post("/auth/login")
def login():
    # Scripts for the earlier backend post an OAuth2 password form; JSON works too.
    if request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        data = request.form
    else:
        data = json_body()
        if not isinstance(data, dict):
            raise ValidationError({}, "Request body must be a JSON object")
        # Like every other JSON body, an unknown field is refused. (The OAuth2 form, above, may
        # carry grant_type, scope and client fields by that standard: they are ignored.)
        unknown = {field: ["Unknown field."] for field in data if field not in ("username", "password")}
        if unknown:
            raise ValidationError(unknown)
    missing = {field: ["Field required."] for field in ("username", "password")
               if not isinstance(data.get(field), str) or not data.get(field)}
    if missing:
        raise ValidationError(missing)
    throttle.login_attempt(data["username"])
    user = accounts.authenticate(data["username"], data["password"])
    if user is None:
        return {"detail": "Incorrect username or password"}, 401, {"WWW-Authenticate": "Bearer"}
    throttle.login_succeeded(data["username"])
    token, expires_in = accounts.issue_token(user)
    return {"access_token": token, "token_type": "bearer", "expires_in": expires_in}


@bp.post("/auth/logout")
@auth_required()
def logout():
    accounts.revoke_token(g.token)
    return "", 204


@bp.get("/auth/me")
@auth_required()
def me():
    return user_json(accounts.user_row(g.user.id))


@bp.put("/auth/me/email")
@auth_required()
def change_email():
    data = clean_fields(json_body(), {"email": clean_email, "password": _string},
                        required=("email", "password"))
    # The current password is checked like a login's, and throttled as one.
    throttle.login_attempt(g.user.username)
    try:
        user = addresses.change_email(g.user.id, data["password"], data["email"])
    except WrongPasswordError:
        abort(403, "Incorrect password")
    throttle.login_succeeded(g.user.username)
    return user_json(user)


@bp.post("/auth/verify-email")
def verify_email():
    data = clean_fields(json_body(), {"token": _string}, required=("token",))
    return user_json(addresses.verify_email(data["token"]))


RESET_ANSWER = {"detail": "If that account exists and has an email address, a link is on its way."}


@bp.post("/auth/password-reset")
def password_reset():
    data = clean_fields(json_body(), {"username": _string, "email": _string})
    if len(data) != 1:
        raise ValidationError({"username": ["Give a username or an email, not both."]} if data else
                              {"email": ["Field required (or give a username)."]})
    (field, value), = data.items()
    throttle.password_reset(value)  # counted before any work
    addresses.request_password_reset(**{field: value})
    return RESET_ANSWER, 202


@bp.post("/auth/password-reset/confirm")
def password_reset_confirm():
    data = clean_fields(json_body(), {"token": _string, "password": clean_password},
                        required=("token", "password"))
    addresses.reset_password(data["token"], data["password"])
    return {"detail": "Your password was changed; every session and token of the account has ended."}


def _string(value):
    if not isinstance(value, str) or not value or len(value) > 254 or not is_encodable(value):
        raise ValueError("Must be a non-empty string of at most 254 characters.")
    return value
