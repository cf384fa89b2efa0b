"""Photo URLs: ``/photos/<sha256>.webp`` and ``/photos/<sha256>-thumb.webp``, cacheable for ever."""
import re

from flask import Response, abort, request, url_for

from .. import photos
from .views import bp

PHOTO_NAME = re.compile(r"([0-9a-f]{64})(-thumb)?\.webp")
# The URL names the bytes (a content hash), so they can never change under it.
CACHE_FOREVER = "public, max-age=31536000, immutable"


@bp.app_template_global()
def photo_url(digest, thumb=False):
    """The URL of a sweet's photo (or its thumbnail) from its ``photo_hash``; None without one."""
    if digest is None:
        return None
    return url_for("shop.photo", name=f"{digest}{'-thumb' if thumb else ''}.webp")


@bp.get("/photos/<name>")
def photo(name):
    """:raise 404: not a photo name, or a photo that was replaced or removed."""
    match = PHOTO_NAME.fullmatch(name)
    if match is None:
        abort(404)
    digest, thumb = match.group(1), bool(match.group(2))
    found = photos.find(digest, thumb)
    if found is None:
        abort(404)
    response = Response(found.data, mimetype=found.mime)
    response.set_etag(name.removesuffix(".webp"))
    response.headers["Cache-Control"] = CACHE_FOREVER
    return response.make_conditional(request)
