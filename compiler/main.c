/* main.c: the trac command; everything else is in libtrac (driver.c).
 *
 * The compiler runs on a thread of its own whose stack is MAIN_STACK
 * bytes, whatever `ulimit -s` says: the recursive walks over expressions
 * go as deep as the nesting limit allows (grammar.h, PARSE_MAX_NESTING:
 * about 1.5 MiB at 2,000 levels), and a shell's smaller stack would turn a
 * program within the limits into a crash. The stack is reserved, not
 * touched: only what the walks use becomes memory. The C compiler that
 * the C back end runs recurses over the same expressions, so the soft
 * stack limit its process inherits is raised to MAIN_STACK too, as far
 * as the hard limit allows. */
#include "tra.h"

#include <pthread.h>
#include <sys/resource.h>

#define MAIN_STACK ((size_t)64 << 20)

typedef struct MainRun {
	int argc;
	char **argv;
	int status;
} MainRun;

static void *main_thread(void *arg)
{
	MainRun *r = arg;
	r->status = driver_main(r->argc, r->argv);
	return NULL;
}

/* The soft stack limit the C compiler will inherit, raised to MAIN_STACK
 * where the hard limit allows. */
static void main_child_stack(void)
{
	struct rlimit l;
	if (getrlimit(RLIMIT_STACK, &l) != 0 || l.rlim_cur == RLIM_INFINITY || l.rlim_cur >= MAIN_STACK)
		return;
	l.rlim_cur = l.rlim_max == RLIM_INFINITY || l.rlim_max > MAIN_STACK ? MAIN_STACK : l.rlim_max;
	setrlimit(RLIMIT_STACK, &l);
}

int main(int argc, char **argv)
{
	MainRun r = {argc, argv, 0};
	pthread_attr_t attr;
	pthread_t t;
	main_child_stack();
	if (pthread_attr_init(&attr) != 0)
		return driver_main(argc, argv);
	bool started = pthread_attr_setstacksize(&attr, MAIN_STACK) == 0 &&
	               pthread_create(&t, &attr, main_thread, &r) == 0;
	pthread_attr_destroy(&attr);
	if (started)
		pthread_join(t, NULL);
	else /* no thread: run on this one, as far as its stack goes */
		main_thread(&r);
	return r.status;
}
