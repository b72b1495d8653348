"""Writes the first N images of an IDX image file (gzipped or not) as 8-bit
greyscale PNGs, for trying image-folder tools on Fashion-MNIST:

    /usr/bin/python3 scripts/export_images.py IMAGES.idx3-ubyte.gz N OUT_DIR
"""
import gzip
import os
import struct
import sys
import zlib


def write_grey_png(path, width, height, pixels):
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    rows = b"".join(b"\x00" + pixels[y * width:(y + 1) * width] for y in range(height))
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
                + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def main():
    path, count, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    data = (gzip.open if path.endswith(".gz") else open)(path, "rb").read()
    magic, n, height, width = struct.unpack(">IIII", data[:16])
    if magic != 0x803:
        sys.exit(f"{path}: not an IDX u8 [N,H,W] image file")
    os.makedirs(out, exist_ok=True)
    size = height * width
    for i in range(min(count, n)):
        write_grey_png(os.path.join(out, f"image{i:05d}.png"), width, height, data[16 + i * size:16 + (i + 1) * size])


if __name__ == "__main__":
    main()
