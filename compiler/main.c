/* main.c: the trac command; everything else is in libtrac (driver.c). */
#include "tra.h"

int main(int argc, char **argv)
{
	return driver_main(argc, argv);
}
