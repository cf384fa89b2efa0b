"""Sweet photos: upload through the API, re-encoded, served by content hash; every bad file refused."""
import io

import pytest
from PIL import Image
from support.images import image_bytes, noisy_png, png_header_only_bomb

CACHE_FOREVER = "public, max-age=31536000, immutable"


@pytest.fixture
def sweet(api):
    return api.sweet()


def put_photo(client, api, sweet_id, data, headers=None):
    return client.put(f"/api/sweets/{sweet_id}/photo", data=data,
                      headers=headers or {**api.admin, "Content-Type": "application/octet-stream"})


def served(client, url):
    response = client.get(url)
    assert response.status_code == 200, url
    return response


def test_upload_is_reencoded_served_by_hash_with_long_cache(client, api, sweet):
    exif = Image.Exif()
    exif[0x010F] = "SecretCam GPS-Maker"  # Make
    upload = image_bytes("JPEG", size=(2400, 1600), exif=exif, comment=b"my home address")
    response = put_photo(client, api, sweet["id"], upload)
    assert response.status_code == 200, response.json
    url = response.json["photo_url"]
    assert url.startswith("/photos/") and url.endswith(".webp")
    assert response.json == dict(sweet, photo_url=url)
    assert client.get(f"/api/sweets/{sweet['id']}").json["photo_url"] == url

    photo = served(client, url)
    assert photo.mimetype == "image/webp"
    assert photo.headers["Cache-Control"] == CACHE_FOREVER
    assert photo.headers["ETag"] == f'"{url[len("/photos/"):-len(".webp")]}"'
    stored = Image.open(io.BytesIO(photo.data))
    assert stored.format == "WEBP" and stored.size == (1200, 800)  # bounded to PHOTO_SIZE
    assert b"SecretCam" not in photo.data and b"home address" not in photo.data
    assert not stored.getexif()

    thumb = served(client, url.replace(".webp", "-thumb.webp"))
    assert Image.open(io.BytesIO(thumb.data)).size == (480, 320)
    assert thumb.headers["Cache-Control"] == CACHE_FOREVER
    assert thumb.headers["ETag"] != photo.headers["ETag"]
    assert photo.headers["Content-Security-Policy"].startswith("default-src 'self'")


def test_a_repeat_request_with_the_etag_gets_304(client, api, sweet):
    url = put_photo(client, api, sweet["id"], image_bytes("PNG")).json["photo_url"]
    etag = served(client, url).headers["ETag"]
    again = client.get(url, headers={"If-None-Match": etag})
    assert again.status_code == 304 and not again.data


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_jpeg_png_and_webp_are_accepted(client, api, sweet, fmt):
    response = put_photo(client, api, sweet["id"], image_bytes(fmt))
    assert response.status_code == 200 and response.json["photo_url"]


def test_transparency_is_kept(client, api, sweet):
    out = io.BytesIO()
    Image.new("RGBA", (40, 40), (255, 0, 0, 0)).save(out, "PNG")
    url = put_photo(client, api, sweet["id"], out.getvalue()).json["photo_url"]
    assert Image.open(io.BytesIO(served(client, url).data)).mode == "RGBA"


def test_exif_orientation_is_applied_before_it_is_dropped(client, api, sweet):
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to view"
    upload = image_bytes("JPEG", size=(200, 100), exif=exif)
    url = put_photo(client, api, sweet["id"], upload).json["photo_url"]
    assert Image.open(io.BytesIO(served(client, url).data)).size == (100, 200)


def test_replacing_gives_a_new_url_and_the_old_one_is_404(client, api, sweet):
    first = put_photo(client, api, sweet["id"], image_bytes("PNG", colour=(1, 2, 3))).json["photo_url"]
    second = put_photo(client, api, sweet["id"], image_bytes("PNG", colour=(250, 250, 0))).json["photo_url"]
    assert first != second
    assert client.get(first).status_code == 404
    assert client.get(first.replace(".webp", "-thumb.webp")).status_code == 404
    served(client, second)


def test_delete_removes_the_photo_and_its_urls(client, api, sweet):
    url = put_photo(client, api, sweet["id"], image_bytes("PNG")).json["photo_url"]
    response = client.delete(f"/api/sweets/{sweet['id']}/photo", headers=api.admin)
    assert response.status_code == 200 and response.json == dict(sweet, photo_url=None)
    assert client.get(url).status_code == 404
    assert client.get(url.replace(".webp", "-thumb.webp")).status_code == 404
    again = client.delete(f"/api/sweets/{sweet['id']}/photo", headers=api.admin)
    assert again.status_code == 200 and again.json["photo_url"] is None


def test_two_sweets_may_share_a_picture(client, api, sweet):
    other = api.sweet(name="Other")
    url = put_photo(client, api, sweet["id"], image_bytes("PNG")).json["photo_url"]
    assert put_photo(client, api, other["id"], image_bytes("PNG")).json["photo_url"] == url
    client.delete(f"/api/sweets/{sweet['id']}/photo", headers=api.admin)
    served(client, url)  # still the other sweet's photo


JPEG = image_bytes("JPEG", size=(400, 300))
BAD_FILES = {
    "empty": (b"", "empty"),
    "text renamed .jpg": (b"Just some notes, saved as photo.jpg\n" * 20, "Not a JPEG, PNG or WebP"),
    "svg": (b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">'
            b'<script>alert(1)</script></svg>', "Not a JPEG, PNG or WebP"),
    "gif": (image_bytes("GIF"), "Not a JPEG, PNG or WebP"),
    "truncated jpeg": (JPEG[:len(JPEG) // 2], "damaged or incomplete"),
    # Cut inside its first chunk, it is not recognised as a PNG at all.
    "png header only": (image_bytes("PNG")[:40], "Not a JPEG, PNG or WebP"),
    "png bomb 20000x20000": (png_header_only_bomb(20000, 20000), "too many pixels"),
    "png of 5000x5000 (over PHOTO_MAX_PIXELS)": (png_header_only_bomb(5000, 5000), "too many pixels"),
}


# Refused by the image decoder before anything is stored: SQLite only.
@pytest.mark.databases("sqlite")
@pytest.mark.parametrize("name", BAD_FILES)
def test_bad_files_are_refused_with_422_and_nothing_changes(client, api, sweet, name):
    data, message = BAD_FILES[name]
    if "bomb" in name:
        assert len(data) < 64 * 1024  # a few KB that would decode to 400 million pixels
    before = put_photo(client, api, sweet["id"], image_bytes("PNG")).json
    response = put_photo(client, api, sweet["id"], data)
    assert response.status_code == 422, response.json
    assert message in response.json["detail"] and message in response.json["errors"]["photo"][0]
    assert client.get(f"/api/sweets/{sweet['id']}").json == before
    served(client, before["photo_url"])


def test_a_polyglot_is_stored_as_only_its_pixels(client, api, sweet):
    """A valid PNG with a zip and an HTML page appended: accepted, and re-encoding drops the rest."""
    tail = b"PK\x03\x04" + b"\0" * 26 + b"<html><script>alert('polyglot')</script></html>"
    response = put_photo(client, api, sweet["id"], image_bytes("PNG") + tail)
    assert response.status_code == 200
    photo = served(client, response.json["photo_url"])
    assert b"polyglot" not in photo.data and b"PK\x03\x04" not in photo.data
    assert Image.open(io.BytesIO(photo.data)).format == "WEBP"


def test_the_photo_route_takes_bodies_over_64_kib_and_others_do_not(client, api, sweet):
    big = noisy_png(400)
    assert 300 * 1024 < len(big) < 5 * 1024 * 1024
    assert put_photo(client, api, sweet["id"], big).status_code == 200
    assert client.post("/api/sweets", headers=api.admin, data=big).status_code == 413
    assert client.patch(f"/api/sweets/{sweet['id']}", headers=api.admin, data=big).status_code == 413


def test_over_5_mb_is_413(client, api, sweet):
    response = put_photo(client, api, sweet["id"], b"\0" * (5 * 1024 * 1024 + 1))
    assert response.status_code == 413 and "detail" in response.json
    assert client.get(f"/api/sweets/{sweet['id']}").json["photo_url"] is None


def test_photo_routes_need_an_admin_and_a_sweet_on_sale(client, api, sweet):
    url = f"/api/sweets/{sweet['id']}/photo"
    assert client.put(url, data=image_bytes("PNG")).status_code == 401
    customer = api.user("bob")
    assert client.put(url, data=image_bytes("PNG"), headers=customer).status_code == 403
    assert client.delete(url, headers=customer).status_code == 403
    assert put_photo(client, api, 999, image_bytes("PNG")).status_code == 404
    client.delete(f"/api/sweets/{sweet['id']}", headers=api.admin)
    assert put_photo(client, api, sweet["id"], image_bytes("PNG")).status_code == 404
    assert client.delete(url, headers=api.admin).status_code == 404


@pytest.mark.parametrize("name", ["nothing.webp", "a" * 64 + ".webp", "A" * 64 + ".webp",
                                  "a" * 64 + ".png", "a" * 64 + "-thumb.png", "..%2F..%2Fetc"])
def test_unknown_photo_names_are_404(client, name):
    assert client.get(f"/photos/{name}").status_code == 404


def test_photos_stay_cacheable_for_a_signed_in_browser(client, api, sweet):
    """A photo is the same for everyone: the no-store of personal responses does not reach it."""
    from support.pages import Pages
    url = put_photo(client, api, sweet["id"], image_bytes("PNG")).json["photo_url"]
    pages = Pages(client)
    pages.customer("carol")
    assert pages.client.get("/").headers["Cache-Control"] == "no-store"  # the control: a personal page
    photo = served(pages.client, url)
    assert photo.headers["Cache-Control"] == CACHE_FOREVER and "Set-Cookie" not in photo.headers
