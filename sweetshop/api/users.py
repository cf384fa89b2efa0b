"""API user administration (admins only): list users, grant and revoke admin rights."""
from flask import g, request

from .. import accounts
from ..errors import ValidationError
from ..rules import check_plain_text
from .blueprint import bp
from .http import auth_required, paging, user_json

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


@bp.get("/users")
@auth_required(admin=True)
def list_users():
    skip, limit = paging()
    return [user_json(user) for user in accounts.search_users(_search_text(), skip=skip, limit=limit)]


@bp.post("/users/<id:user_id>/admin")
@auth_required(admin=True)
def grant_admin(user_id):
    return user_json(accounts.grant_admin(user_id, by_user_id=g.user.id))


@bp.delete("/users/<id:user_id>/admin")
@auth_required(admin=True)
def revoke_admin(user_id):
    return user_json(accounts.revoke_admin(user_id, by_user_id=g.user.id))
