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
