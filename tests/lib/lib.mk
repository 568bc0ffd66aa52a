# A plain Makefile that uses a .tra program as a library, as README shows:
# the pattern rule compiles scale.tra into scale.o and scale.h.
# Variables from the test: TRAC, CC, TRART_LIBS (the runtime and BLAS).
# The header includes trart.h: trac says where its runtime is.
TRAC ?= trac
CFLAGS ?= -O2 -Wall -Wextra -Werror
CPPFLAGS += -I$(shell $(TRAC) --print-runtime-dir | sed -n 1p)

%.o %.h: %.tra
	$(TRAC) -c $< -o $*.o

use_scale: use_scale.o scale.o
	$(CC) -o $@ use_scale.o scale.o $(TRART_LIBS)

use_scale.o: use_scale.c scale.h

# C++ links the same object through the header's extern "C"
CXX ?= g++
CXXFLAGS ?= -O2 -Wall -Wextra -Werror
use_scale_cpp: use_scale_cpp.o scale.o
	$(CXX) -o $@ use_scale_cpp.o scale.o $(TRART_LIBS)

use_scale_cpp.o: use_scale_cpp.cpp scale.h

# --shared: a library a plugin host or Python loads
libscale.so libscale.h: scale.tra
	$(TRAC) --shared scale.tra -o libscale.so --name scale

dlopen_scale: dlopen_scale.c libscale.h
	$(CC) $(CPPFLAGS) $(CFLAGS) -o $@ dlopen_scale.c -ldl
