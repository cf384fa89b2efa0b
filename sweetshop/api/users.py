"""API user administration (admins only): list users, grant and revoke admin rights."""
from flask import g, request

from .. import accounts
from ..errors import ValidationError
from ..rules import check_plain_text, clean_fields
from .blueprint import bp
from .http import auth_required, json_body, paging, user_json

SEARCH_MAX = 100


def _search_text():
    value = request.args.get("q", "").strip()
    try:
        check_plain_text(value)
    except ValueError as error:
        raise ValidationError({"q": [str(error)]}) from None
    if len(value) > SEARCH_MAX:
        raise ValidationError({"q": [f"Must be at most {SEARCH_MAX} characters."]})
    return value or None


def _clean_grant(value):
    if value is not True:
        raise ValueError("POST grants admin rights: send {} or {\"is_admin\": true}; DELETE revokes them.")
    return value


@bp.get("/users")
@auth_required(admin=True)
def list_users():
    skip, limit = paging()
    return [user_json(user) for user in accounts.search_users(_search_text(), skip=skip, limit=limit)]


@bp.post("/users/<id:user_id>/admin")
@auth_required(admin=True)
def grant_admin(user_id):
    # POST grants: a body is optional, but one that says anything else (``{"is_admin": false}``
    # meant as a revoke, a typo) is refused rather than granting against its word.
    clean_fields(json_body(default={}), {"is_admin": _clean_grant})
    return user_json(accounts.grant_admin(user_id, by_user_id=g.user.id))


@bp.delete("/users/<id:user_id>/admin")
@auth_required(admin=True)
def revoke_admin(user_id):
    return user_json(accounts.revoke_admin(user_id, by_user_id=g.user.id))
