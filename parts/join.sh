#!/bin/sh
# temporary (core v2 work): nn.h is the parts joined in order. Each part ends with a newline.
cd "$(dirname "$0")/.." && cat parts/[0-9]*.h > nn.h.tmp && mv nn.h.tmp nn.h
