"""API accounts: register, log in and out, who am I."""
from flask import g, request

from .. import accounts, throttle
from ..errors import ValidationError
from ..rules import REGISTER
from .blueprint import bp
from .http import auth_required, json_body, user_json


@bp.post("/auth/register")
def register():
    data = REGISTER.clean(json_body())
    throttle.registration()
    user = accounts.register(data["username"], data["password"], data.get("full_name"))
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
    return user_json(g.user)
