"""Sweet photos: every upload decoded and re-encoded with Pillow, and kept in the database.

An upload is never stored or served as sent. Pillow opens it (JPEG, PNG or WebP only), its
size is read from the header and checked before a single pixel is decoded (so a 20000x20000
PNG that compresses to a few KB is refused cheaply), then it is decoded whole (a truncated
or damaged file fails here), turned upright by its EXIF orientation, shrunk, and encoded
afresh as WebP: a bounded-size copy and a thumbnail. What is served is therefore only
pixels: metadata (EXIF, GPS, comments) and anything appended to the file (a zip or HTML
"polyglot") are gone, so a polyglot is accepted as the image it also is, and is harmless.

Both copies live in the ``photos`` table, so every host serves them. Their URL carries the
SHA-256 of the stored copy; the row is never changed, so the URL may be cached for ever.
Replacing or removing a photo deletes its row, and its URL answers 404 from then on.

Settings: ``PHOTO_MAX_BYTES``, ``PHOTO_MAX_PIXELS``, ``PHOTO_SIZE``, ``PHOTO_THUMB_SIZE``.
"""
import hashlib
import io
import warnings
from dataclasses import dataclass

from flask import current_app
from PIL import Image, ImageOps, UnidentifiedImageError
from sqlalchemy import delete, insert, select, update

from .errors import BadPhotoError, SweetNotFoundError
from .extensions import db
from .inventory import SWEET_COLUMNS, on_sale, sweets
from .models import Photo, utcnow
from .transactions import transaction

FORMATS = ("JPEG", "PNG", "WEBP")
MIME = "image/webp"
QUALITY = 82
photos = Photo.__table__


@dataclass(frozen=True)
class Encoded:
    """An upload as it will be stored: WebP bytes of the copy and the thumbnail."""

    image: bytes
    thumb: bytes
    width: int
    height: int

    @property
    def hash(self):
        return hashlib.sha256(self.image).hexdigest()


def _open(data, max_pixels, size):
    """The upload decoded, refused before decoding when it has too many pixels.

    :raise BadPhotoError:
    """
    try:
        # Pillow warns (then errors, at twice its own limit) about huge images while opening;
        # as an error here the warning refuses them too, with our message.
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=FORMATS)
        width, height = image.size  # read from the header; nothing is decoded yet
        if width * height > max_pixels:
            raise BadPhotoError(f"The image has too many pixels ({width}×{height}); "
                                f"at most {max_pixels:,} are accepted.")
        if image.format == "JPEG":
            image.draft("RGB", (size, size))  # decode at a reduced scale when that is enough
        image.load()
        return ImageOps.exif_transpose(image)
    except (Image.DecompressionBombWarning, Image.DecompressionBombError):
        raise BadPhotoError(f"The image has too many pixels; at most {max_pixels:,} are accepted.") from None
    except UnidentifiedImageError:
        raise BadPhotoError("Not a JPEG, PNG or WebP image.") from None
    except (OSError, SyntaxError, ValueError, EOFError):
        raise BadPhotoError("The image is damaged or incomplete.") from None


def _webp(image, longest_side):
    copy = image.copy()
    copy.thumbnail((longest_side, longest_side), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    copy.save(out, "WEBP", quality=QUALITY, method=4)
    return out.getvalue(), copy.size


def encode(data, max_pixels, size, thumb_size):
    """Decode an upload and re-encode it as a WebP copy (longest side ``size``) and thumbnail.

    :raise BadPhotoError: empty, not a JPEG/PNG/WebP (a GIF, an SVG, text), damaged or
        truncated, or more than ``max_pixels`` pixels.
    """
    if not data:
        raise BadPhotoError("The photo is empty.")
    image = _open(data, max_pixels, size)
    image = image.convert("RGBA" if image.has_transparency_data else "RGB")
    full, (width, height) = _webp(image, size)
    thumb, _ = _webp(image, thumb_size)
    return Encoded(full, thumb, width, height)


def set_photo(sweet_id, data):
    """Give a sweet on sale this photo (replacing any other); returns the sweet.

    :raise BadPhotoError: see ``encode`` (nothing changed).
    :raise SweetNotFoundError: no such sweet on sale.
    """
    return store(sweet_id, prepare(data))


def prepare(data):
    """An upload checked and re-encoded with the shop's settings, ready for ``store``.

    :raise BadPhotoError: too large, or see ``encode``.
    """
    config = current_app.config
    if len(data) > config["PHOTO_MAX_BYTES"]:
        raise BadPhotoError(f"The photo is larger than {config['PHOTO_MAX_BYTES']:,} bytes.")
    return encode(data, config["PHOTO_MAX_PIXELS"], config["PHOTO_SIZE"], config["PHOTO_THUMB_SIZE"])


def store(sweet_id, encoded):
    """Give a sweet on sale this ``prepare``d photo (replacing any other); returns the sweet.

    :raise SweetNotFoundError: no such sweet on sale.
    """
    digest = encoded.hash
    with transaction():
        # The sweet's row first: on PostgreSQL racing uploads for one sweet take turns on its lock.
        row = _point_sweet_at(sweet_id, digest)
        db.session.execute(delete(photos).where(photos.c.sweet_id == sweet_id))
        db.session.execute(insert(photos).values(
            sweet_id=sweet_id, hash=digest, mime=MIME, width=encoded.width, height=encoded.height,
            image=encoded.image, thumb=encoded.thumb, created_at=utcnow()))
    return row


def remove_photo(sweet_id):
    """Take a sweet's photo away (its URL is 404 from now on); returns the sweet.

    :raise SweetNotFoundError: no such sweet on sale.
    """
    with transaction():
        row = _point_sweet_at(sweet_id, None)
        db.session.execute(delete(photos).where(photos.c.sweet_id == sweet_id))
    return row


def _point_sweet_at(sweet_id, digest):
    row = db.session.execute(
        update(sweets).where(sweets.c.id == sweet_id, on_sale)
        .values(photo_hash=digest, updated_at=utcnow()).returning(*SWEET_COLUMNS)
    ).one_or_none()
    if row is None:
        raise SweetNotFoundError()  # inside transaction(): nothing changes
    return row


def find(digest, thumb=False):
    """``(bytes, mime)`` of the photo or thumbnail with this hash, or None (removed, replaced)."""
    column = photos.c.thumb if thumb else photos.c.image
    return db.session.execute(
        select(column.label("data"), photos.c.mime).where(photos.c.hash == digest).limit(1)).first()
