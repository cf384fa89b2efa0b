"""Pictures made for the photo tests: plain images, incompressible ones, a decompression bomb."""
import io
import random
import struct
import zlib

from PIL import Image


def image_bytes(fmt, size=(64, 48), colour=(200, 30, 90), **save):
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, fmt, **save)
    return out.getvalue()


def noisy_png(side):
    """A PNG of random pixels: it hardly compresses, so its size is about 3 * side² bytes."""
    rng = random.Random(side)
    image = Image.frombytes("RGB", (side, side), rng.randbytes(side * side * 3))
    out = io.BytesIO()
    image.save(out, "PNG", compress_level=1)
    return out.getvalue()


def png_header_only_bomb(width, height):
    """A real PNG of ``width`` x ``height`` black pixels (1 bit each), made without ever holding them:
    the rows are all zeros, so they compress to almost nothing."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    row = b"\0" * (1 + (width + 7) // 8)
    compressor = zlib.compressobj(9)
    compressed = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0))
            + chunk(b"IDAT", compressed) + chunk(b"IEND", b""))
