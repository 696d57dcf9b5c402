"""A page's image made into a card picture: decoded with Pillow only after its header says it
is a modest size, cut to the card's shape and encoded as a small WebP.

Decoding is the dangerous part: a few kB of PNG or GIF can declare a billion pixels (a
decompression bomb). The header is read first (Image.open reads nothing else) and the image
refused past `max_pixels`; Pillow's own guard (MAX_IMAGE_PIXELS) is set to the same bound, so
a frame or a format that declares its size late is refused as well.
"""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass

from PIL import Image, ImageOps, UnidentifiedImageError

# The card's picture: 16:9, twice the width a card takes on a phone (sharp on its screen).
WIDTH, HEIGHT = 480, 270
QUALITY = 72
# Smaller than this is an icon or a spacer, not a picture for a card.
MIN_SIDE = 48
# What Pillow may decode (not SVG, which it cannot, nor the rarer formats it would guess at),
# of the formats this Pillow was built with.
Image.init()
FORMATS = tuple(f for f in ("JPEG", "PNG", "GIF", "WEBP", "BMP", "AVIF", "MPO") if f in Image.OPEN)


class ThumbnailError(Exception):
    """An image that will not make a picture, with a sentence saying why."""


@dataclass(frozen=True, slots=True)
class Made:
    webp: bytes
    width: int
    height: int
    etag: str


def make(body: bytes, max_pixels: int) -> Made:
    """The card picture of an image file; raises ThumbnailError. CPU-bound: run it in a
    thread."""
    Image.MAX_IMAGE_PIXELS = max_pixels  # Pillow refuses twice this, and warns past it
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(body), formats=FORMATS)
            width, height = image.size
            if width * height > max_pixels:
                raise ThumbnailError(
                    f"The image is {width} x {height} pixels, more than the "
                    f"{max_pixels:,} Fuze decodes."
                )
            if min(width, height) < MIN_SIDE:
                raise ThumbnailError(
                    f"The image is {width} x {height} pixels, too small for a card."
                )
            # A JPEG can be decoded at 1/2, 1/4 or 1/8 of its size: much less work.
            image.draft("RGB", (WIDTH * 2, HEIGHT * 2))
            image.load()
            image = ImageOps.exif_transpose(image)
            image = image.convert("RGBA" if _has_alpha(image) else "RGB")
            card = ImageOps.fit(
                image, (WIDTH, HEIGHT), Image.Resampling.LANCZOS, centering=(0.5, 0.4)
            )
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ThumbnailError(
            f"The image declares too many pixels to decode safely ({exc})."
        ) from exc
    except UnidentifiedImageError as exc:
        raise ThumbnailError("The address did not give an image Fuze can read.") from exc
    except ThumbnailError:
        raise
    except Exception as exc:  # truncated, damaged, or a decoder's own complaint
        raise ThumbnailError(f"The image could not be read ({type(exc).__name__}).") from exc
    out = io.BytesIO()
    card.save(out, "WEBP", quality=QUALITY, method=4)
    webp = out.getvalue()
    return Made(webp, WIDTH, HEIGHT, hashlib.sha256(webp).hexdigest()[:16])


def _has_alpha(image: Image.Image) -> bool:
    return image.mode in ("RGBA", "LA", "PA") or (
        image.mode == "P" and "transparency" in image.info
    )
