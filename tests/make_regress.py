#!/usr/bin/python3
"""Writes tests/regress/: the inputs issue 10's outside probe found (zero-sized and huge images,
crafted checkpoint metadata; the checkpoints edited from tests/corpus/checkpoint/after_4_steps so the
checkpoint target's real model reaches the metadata). Crashes found by make fuzz are added by hand.
Run from the repository root: python3 tests/make_regress.py"""
import json, os, struct

def put(target, name, data):
    os.makedirs(f"tests/regress/{target}", exist_ok=True)
    with open(f"tests/regress/{target}/{name}", "wb") as f:
        f.write(data)

def bmp(w, h, pad):
    head = b"BM" + struct.pack("<IHHI", 54 + pad, 0, 0, 54) + struct.pack("<IiiHHIIiiII", 40, w, h, 1, 24, 0, 0, 0, 0, 0, 0)
    return head + bytes(pad)

put("image_folder", "ppm_0x4", b"P6\n0 4\n255\n")
put("image_folder", "ppm_4x0", b"P6\n4 0\n255\n")
put("image_folder", "pgm_0x0", b"P5\n0 0\n255\n")
put("image_folder", "bmp_0x4", bmp(0, 4, 16))
put("image_folder", "bmp_4x0", bmp(4, 0, 16))
put("image_folder", "bmp_327680x1792_in_130_bytes", bmp(327680, 1792, 76))
put("image_folder", "bmp_16000x16000_topdown", bmp(16000, -16000, 76))
put("image_folder", "bmp_height_int_min", bmp(4, -2**31, 16))
put("image_folder", "ppm_width_overflows_int", b"P6\n3333333333 1\n255\n" + bytes(16))
put("image_folder", "ppm_truncated", b"P6\n4 4\n255\n" + bytes(10))
put("image_folder", "png_chunk_longer_than_file", b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 0xFFFFFFF0) + b"IHDR" + bytes(13))
put("image_folder", "hdr_zero_run", b"#?RADIANCE\nFORMAT=32-bit_rle_rgbe\n\n-Y 2 +X 8\n" + bytes([2, 2, 0, 8, 0, 0, 0, 0]))
# a JPEG whose DHT lists 16 x 255 codes (stb#1291): SOI, DHT, EOI
put("image_folder", "jpeg_dht_over_256_codes", b"\xff\xd8\xff\xc4" + struct.pack(">H", 2 + 17 + 300) + b"\x00" + bytes([255] * 16) + bytes(300) + b"\xff\xd9")

with open("tests/corpus/checkpoint/after_4_steps", "rb") as f:
    good = f.read()
hl = struct.unpack("<Q", good[:8])[0]
header = json.loads(good[8:8 + hl])
data = good[8 + hl:]
edits = [("epoch", "1e300"), ("epoch", "nan"), ("epoch", "-inf"), ("epoch", "2.5"), ("loss", "oops"),
         ("rng.state_hi", "1e300"), ("rng.state_lo", "-1"), ("rng.inc_lo", "4"), ("rng.has_spare", "nan"),
         ("rng.spare", "1e300"), ("rng.spare", "nan"), ("optim.0.lr", "nan"), ("optim.0.lr", "-inf"),
         ("optim.0.momentum", "1e999"), ("optim.0.has_initial_lr", "2"), ("optim.state.0.step", "1e300"),
         ("optim.state.1.step", "-3"), ("optim.0.params", "1e300"), ("sched.best", "nan"), ("sched.num_bad", "1e19"),
         ("loader.rng", "18446744073709551616"), ("loader.rng", " -1"), ("loader.pos", "99"), ("loader.epoch", "-1"),
         ("extra.best", "")]
for k, (key, value) in enumerate(edits):
    h = json.loads(json.dumps(header))
    h["__metadata__"][key] = value
    text = json.dumps(h, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    name = "meta_%02d_%s=%s" % (k, key.replace(".", "_"), value.replace(" ", "_").replace("-", "minus"))
    put("checkpoint", name, struct.pack("<Q", len(text)) + text + data)
print("tests/regress written")
