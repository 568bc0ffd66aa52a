/* options.h: trac's command line, parsed (options.c). driver.c runs the
 * pipeline on what options_parse gives it; the stages that --emit names
 * are driver.c's table (driver_stages in tra.h), which options.c reads
 * for --emit, its error and --help. */
#ifndef TRAC_OPTIONS_H
#define TRAC_OPTIONS_H

#include "tra.h"

/* What trac was asked to do. */
typedef enum DriverMode {
	MODE_COMPILE,   /* the default: a native executable, or an object with -c */
	MODE_CHECK,     /* --check: diagnostics only */
	MODE_EMIT,      /* --emit=STAGE */
	MODE_INTERPRET, /* --interpret */
	MODE_TRAIN,     /* --train-placer: train the learned placer's weights */
} DriverMode;

/* A NAME=FILE pair from --input or --output. */
typedef struct NamedPath {
	const char *name;
	const char *path;
	bool used;
} NamedPath;

/* What renders the program (--backend). The GPU back ends' hosts, and
 * cuda-sim's kernels, are the C back end's. */
typedef enum DriverBackend {
	DRIVER_BACKEND_C,
	DRIVER_BACKEND_LLVM,
	DRIVER_BACKEND_CUDA,     /* CUDA GPUs: nvcc's kernels, cuBLAS */
	DRIVER_BACKEND_CUDA_SIM, /* simulated GPUs: the GPU executor on the host */
} DriverBackend;

/* The parsed command line. */
typedef struct DriverOpts {
	const char *file;      /* the .tra program */
	DiagWarnings warn;     /* -w, -Werror, -Wno-NAME */
	const char *out;       /* -o */
	DriverMode mode;
	bool mode_set;
	SizeOverride *defs;    /* -D */
	int ndefs;
	NamedPath *inputs;     /* --input */
	int ninputs;
	NamedPath *outputs;    /* --output */
	int noutputs;
	const char *output_dir;
	bool random;
	uint64_t seed;
	long steps;            /* --steps (--interpret), >= 1 */
	long log_every;        /* --log-every (--interpret), or 0 */
	bool object;           /* -c */
	bool shared;           /* --shared */
	const char *name;      /* --name */
	DriverBackend backend; /* --backend (llvm where configure found LLVM, else c) */
	int opt_level;         /* -O */
	bool opt_set;
	const char *cc;        /* --cc */
	const char **xcc;      /* -Xcc FLAG and the words of --cflags, in order */
	int nxcc;
	const char *march;     /* --march=CPU */
	const char *runtime_dir; /* --runtime-dir */
	bool print_runtime_dir;  /* --print-runtime-dir */
	const char *depfile;   /* -MD (NULL: the output with .d) or -MF FILE */
	bool deps;             /* -MD or -MF: write a make dependency file */
	unsigned emits;        /* --emit: a bit per row of driver_stages */
	bool portable;         /* --portable */
	bool keep_temps;       /* --keep-temps */
	bool sanitize_thread;  /* --sanitize=thread */
	bool node_kernels;     /* --node-kernels: one multithreaded kernel per node */
	bool verbose;          /* -v */
	int devices;           /* --devices, or 0: the online cores (per rank, with --ranks) */
	int ranks;             /* --ranks=R: placed on R MPI ranks, or 0: one process */
	int gpus;              /* --gpus=N: placed on N GPUs (devices is N), or 0: CPU workers */
	bool tf32;             /* --tf32: cuBLAS may use TF32 (--backend=cuda) */
	bool no_strassen;      /* --no-strassen: GEMMs are plain BLAS calls */
	const char *cuda_arch; /* --cuda-arch=LIST, or NULL: sm_90 */
	const char *pmode;     /* --partition=auto or none, or NULL */
	bool decompose;        /* --devices or --partition given: --emit=tra shows partitions */
	const char *after;     /* --after=PASS: the stage marked after shows the graph after PASS */
	const char **manual;   /* --partition=NODE:INDEX=COUNT,... */
	int nmanual;
	PlaceKind placer;      /* --placer (default greedy) */
	const char *placer_weights; /* --placer-weights: for --placer=learned and as
	                            --train-placer's start; NULL: the default file */
	long search_calls;     /* --search-calls (--placer=search) */
	const struct LearnNet *net; /* --placer=learned's weights, once the driver loaded them */
	const char *train_out; /* --train-placer=FILE: where the weights go */
	long train_stage[3];   /* --train=imitate:N,reinforce:N,finetune:N, or -1: the default */
	int *train_devices;    /* --train-devices=N,...: the device counts (default 2,4,8) */
	int ntrain_devices;
	uint64_t train_seed;   /* --train-seed */
	const char **measured; /* --measured=TRACE.json: per graph, in order (fine-tuning) */
	int nmeasured;
	const char **files;    /* --train-placer's programs (file is the first) */
	int nfiles;
	int64_t memory;        /* --memory=SIZE: bytes per memory domain, or 0: unbounded */
	bool no_reuse;         /* --reuse=none: no reuse chains */
	ReuseSizes reuse;      /* --reuse=MIN,BLOCK, or zeros: the defaults */
	SimModel sim;          /* the simulator's device model, after --sim */
} DriverOpts;

/* Parses argv into o (which it initialises) and checks the combinations
 * that need no program; --help and --version print and exit 0, a usage
 * error exits 2. */
void options_parse(DriverOpts *o, int argc, char **argv);
/* Devices per rank: --devices, or the online cores (at most 4096). */
int options_rank_devices(const DriverOpts *o);
/* Frees what options_parse allocated. */
void options_free(DriverOpts *o);

/* A usage error: "trac: error: MESSAGE", a hint to try --help, exit 2. */
_Noreturn void options_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Whether the first n bytes of s are a C identifier. */
bool options_is_name(const char *s, size_t n);

/* Whether --emit asked for driver_stages[st]. */
bool options_wants(const DriverOpts *o, int st);
/* How many stages --emit asked for. */
int options_count_emits(const DriverOpts *o);

#endif /* TRAC_OPTIONS_H */
