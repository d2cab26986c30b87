#!/bin/sh
# temporary (core v2 work): nn.h is the parts joined in order (layer names that collide
# with op kernels are renamed on the way, see fixnames.py). Each part ends with a newline.
cd "$(dirname "$0")/.." || exit 1
t=$(mktemp -d) && cp parts/[0-9]*.h "$t"/ && python3 parts/fixnames.py "$t"/11_impl_modules.h "$t"/13_impl_optim.h \
  && cat "$t"/[0-9]*.h > nn.h.tmp && mv nn.h.tmp nn.h; rm -rf "$t"
