#!/usr/bin/env bash
# Renders a page written by `kestrel report` in headless Chromium (Debian
# package chromium) and checks what a reader would see: the screenshot is
# not blank, and the plots' FP32 (blue) and INT8 (orange) bars were drawn.
#
#   bash scripts/check_report_page.sh REPORT.html [SCREENSHOT.png]
#
# The screenshot is kept (default: REPORT.png beside the page) to look at.
# Exit status 0 when the page rendered, 1 when it did not, 2 on a usage error.
set -euo pipefail
page=${1:?usage: check_report_page.sh REPORT.html [SCREENSHOT.png]}
shot=${2:-${page%.html}.png}
[[ -f $page ]] || { echo "check_report_page: no such file: $page" >&2; exit 2; }
browser=$(command -v chromium || command -v chromium-browser || true)
[[ -n $browser ]] || { echo "check_report_page: chromium not found (apt-get install chromium)" >&2; exit 2; }
rm -f "$shot"
# A fresh profile each time; --no-sandbox because CI and containers run as root.
profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
timeout 120 "$browser" --headless --no-sandbox --disable-gpu --hide-scrollbars --user-data-dir="$profile" \
  --window-size=1280,4400 --screenshot="$shot" "file://$(realpath "$page")" >/dev/null 2>&1 || true
[[ -s $shot ]] || { echo "check_report_page: chromium wrote no screenshot of $page" >&2; exit 1; }
/usr/bin/python3 - "$shot" <<'PY'
import struct, sys, zlib

path = sys.argv[1]
data = open(path, "rb").read()
if data[:8] != b"\x89PNG\r\n\x1a\n":
    sys.exit(f"check_report_page: {path} is not a PNG")
pos, idat, header = 8, b"", None
while pos < len(data):
    length, kind = struct.unpack(">I4s", data[pos:pos + 8])
    body = data[pos + 8:pos + 8 + length]
    if kind == b"IHDR":
        header = struct.unpack(">IIBBBBB", body)
    elif kind == b"IDAT":
        idat += body
    pos += 12 + length
width, height, depth, color = header[:4]
if depth != 8 or color not in (2, 6):
    sys.exit(f"check_report_page: {path}: unexpected PNG format (depth {depth}, color type {color})")
channels = 3 if color == 2 else 4
raw, stride = zlib.decompress(idat), width * channels
rows, previous = [], bytearray(stride)
offset = 0
for _ in range(height):
    kind, line = raw[offset], bytearray(raw[offset + 1:offset + 1 + stride])
    offset += 1 + stride
    for i in range(stride):
        a = line[i - channels] if i >= channels else 0
        b, c = previous[i], previous[i - channels] if i >= channels else 0
        if kind == 1: line[i] = (line[i] + a) & 255
        elif kind == 2: line[i] = (line[i] + b) & 255
        elif kind == 3: line[i] = (line[i] + (a + b) // 2) & 255
        elif kind == 4:
            p = a + b - c
            pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
    rows.append(line)
    previous = line
ink = blue = orange = 0
for line in rows:
    for x in range(0, stride, channels):
        r, g, b = line[x], line[x + 1], line[x + 2]
        if r < 240 or g < 240 or b < 240: ink += 1
        if abs(r - 0x4c) < 12 and abs(g - 0x78) < 12 and abs(b - 0xa8) < 12: blue += 1
        if abs(r - 0xf5) < 12 and abs(g - 0x85) < 12 and abs(b - 0x18) < 12: orange += 1
total = width * height
print(f"check_report_page: {path}: {width}x{height}, {100 * ink / total:.1f} % ink, "
      f"{blue} FP32-blue and {orange} INT8-orange pixels")
if ink < total * 0.02 or blue < 2000 or orange < 2000:
    sys.exit("check_report_page: the page rendered blank or without its plots")
PY
echo "check_report_page: $page renders (screenshot $shot)"
