/* needs: a placed IaGraph. gives: --emit=plan and --emit=dot, for people to read. */
/* plan.c: the plan a user reads before running a program.
 *
 * --emit=plan prints the device model, then a table with one row per TRA
 * node: its partition (a block count per index, output and reduced), its
 * tasks by kind, its FLOPs, and the bytes of its blocks that move between
 * devices under the placement; then, for the whole program, the
 * simulated makespan beside the time on one device, and per device its
 * busy time, utilisation (busy / makespan), peak memory and task count.
 *
 * --emit=dot writes the TRA graph for Graphviz: a box per einsum, labelled
 * with its partition, task count and FLOPs; an ellipse per input; an edge
 * from every producer to its readers.
 */
#include "tra.h"
#include "memgraph.h"

#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* "1.23 MB": bytes with a unit. */
static void plan_bytes(char *buf, size_t n, double b)
{
	static const char *const units[] = {"B", "kB", "MB", "GB", "TB"};
	int u = 0;
	while (b >= 1000 && u < 4) {
		b /= 1000;
		u++;
	}
	snprintf(buf, n, u ? "%.3g %s" : "%.0f %s", b, units[u]);
}

/* "1.23 ms": seconds with a unit. */
static void plan_time(char *buf, size_t n, double s)
{
	if (s >= 1)
		snprintf(buf, n, "%.3g s", s);
	else if (s >= 1e-3)
		snprintf(buf, n, "%.3g ms", s * 1e3);
	else
		snprintf(buf, n, "%.3g us", s * 1e6);
}

/* Bytes of task u's block sent to other devices: once per device that reads it. */
static double plan_moved(const IaGraph *ia, int u)
{
	double moved = 0;
	for (int i = 0; i < ia->ncons[u]; i++) {
		int d = ia->tasks[ia->cons[u][i]].device;
		bool seen = d == ia->tasks[u].device;
		for (int j = 0; j < i && !seen; j++)
			seen = ia->tasks[ia->cons[u][j]].device == d;
		if (!seen)
			moved += ia->tasks[u].out_bytes;
	}
	return moved;
}

/* "i:2 j:2 k:1", or "-" for an input. */
static void plan_partition(const TraNode *n, char *buf, size_t size)
{
	size_t len = 0;
	buf[0] = '\0';
	if (!n->part) {
		snprintf(buf, size, "- (read as needed)");
		return;
	}
	for (int d = 0; d < n->nidx && len < size; d++)
		len += (size_t)snprintf(buf + len, size - len, "%s%s:%d", d ? " " : "", n->idx[d].name, n->part[d]);
}

/* A node's tasks by kind, FLOPs and bytes moved, for both plan forms. */
typedef struct PlanNodeStats {
	int count[IA_FUSED + 1]; /* tasks per IaKind */
	int total;
	double flops, moved;
} PlanNodeStats;

/* Every node's stats, in one pass over the tasks (a pass per node was
 * quadratic: 10,000 nodes took a second); free the array after. */
static PlanNodeStats *plan_all_stats(const IaGraph *ia)
{
	PlanNodeStats *st = xcalloc((size_t)ia->g->nnodes + 1, sizeof *st);
	for (int t = 0; t < ia->ntasks; t++) {
		PlanNodeStats *s = &st[ia->tasks[t].node];
		s->count[ia->tasks[t].kind]++;
		s->total++;
		s->flops += ia->tasks[t].flops;
		s->moved += plan_moved(ia, t);
	}
	return st;
}

static void plan_node_row(const IaGraph *ia, int v, PlanNodeStats st, FILE *out)
{
	const TraNode *n = &ia->g->nodes[v];
	char part[200], mv[32], name[64];
	plan_partition(n, part, sizeof part);
	plan_bytes(mv, sizeof mv, st.moved);
	snprintf(name, sizeof name, "%%%d %s", v, n->name);
	/* a fused join is a join, computed in its row group's leading task */
	fprintf(out, "%-12s %-22s %5d  %5d %4d %6d %6d  %9.3g  %10s\n", name, part, st.total,
	        st.count[IA_JOIN] + st.count[IA_FUSED],
	        st.count[IA_AGG], st.count[IA_REPART], st.count[IA_INPUT], st.flops, mv);
}

/* The row groups whose blocks are fused: the nodes each task computes. */
static void plan_row_groups(const IaGraph *ia, FILE *out)
{
	const TraGraph *g = ia->g;
	int *first = xmalloc(((size_t)g->nnodes + 1) * sizeof *first); /* lead's first task */
	for (int v = 0; v < g->nnodes; v++)
		first[v] = ia->ntasks;
	for (int t = ia->ntasks - 1; t >= 0; t--)
		if (ia->tasks[t].rows >= 0)
			first[ia->tasks[t].rows] = t;
	for (int lead = 0; lead < g->nnodes; lead++) {
		int t = first[lead];
		if (t == ia->ntasks)
			continue;
		fprintf(out, "rows fused: %s", g->nodes[lead].name);
		for (int u = 0; u < ia->ntasks; u++)
			if (ia->tasks[u].kind == IA_FUSED && ia->tasks[u].in[0] == t)
				fprintf(out, ", %s", g->nodes[ia->tasks[u].node].name);
		fprintf(out, ": one task per row block computes them all (flops under %s)\n",
		        g->nodes[lead].name);
	}
	free(first);
}

/* The reuse chains (reuse.c): their members, blocks and tensor. */
static void plan_reuse_chains(const TraGraph *g, FILE *out)
{
	for (int c = 1; g->reuse; c++) {
		int first = -1;
		for (int v = 0; v < g->nnodes; v++) {
			if (g->reuse[v].chain != c)
				continue;
			fprintf(out, "%s%s", first < 0 ? "reuse chain: " : ", ", g->nodes[v].name);
			first = first < 0 ? v : first;
		}
		if (first < 0)
			return;
		const TraReuse *m = &g->reuse[first];
		int64_t blocks = 1;
		for (int j = 0; j < m->ndims; j++)
			blocks *= m->blocks[j];
		fprintf(out, ": %" PRId64 " row blocks of %s, ", blocks, g->nodes[m->tensor].name);
		if (m->ndims > 1) {
			const TraNode *n = &g->nodes[first];
			for (int j = 0; j < m->ndims; j++)
				fprintf(out, "%s%d", j ? " x " : "", m->blocks[j]);
			fputs(" along ", out);
			for (int j = 0; j < m->ndims; j++)
				fprintf(out, "%s%s", j ? ", " : "", n->idx[m->row[j]].name);
			fputs(", ", out);
		}
		fputs("each block's tasks on one device, depth first\n", out);
	}
}

static void plan_model(const SimModel *m, FILE *out)
{
	fprintf(out, "# device model: GEMM %.3g GFLOP/s, element-wise %.3g GFLOP/s, memory %.3g GB/s,\n"
	        "#   transfers %.3g GB/s after %.3g us (see --sim)\n",
	        m->gemm_flops / 1e9, m->elt_flops / 1e9, m->mem_bw / 1e9, m->link_bw / 1e9, m->latency * 1e6);
}

static void plan_devices(const IaGraph *ia, const SimResult *r, FILE *out)
{
	fputs("device   busy        utilisation  peak memory  tasks\n", out);
	for (int d = 0; d < r->ndevices; d++) {
		int tasks = 0;
		for (int t = 0; t < ia->ntasks; t++)
			tasks += ia->tasks[t].device == d;
		char busy[32], peak[32];
		plan_time(busy, sizeof busy, r->busy[d]);
		plan_bytes(peak, sizeof peak, r->peak_mem[d]);
		fprintf(out, "%-8d %-11s %10.1f%%  %11s  %5d\n", d, busy,
		        r->makespan > 0 ? 100 * r->busy[d] / r->makespan : 0, peak, tasks);
	}
}

/* The simulated run, the time of all tasks one after another on one
 * device, and the program's FLOPs. */
static void plan_simulate(const IaGraph *ia, const SimModel *m, SimResult *r, double *serial, double *flops)
{
	sim_run(ia, m, r);
	*serial = *flops = 0;
	for (int t = 0; t < ia->ntasks; t++) {
		*serial += sim_task_time(&ia->tasks[t], m);
		*flops += ia->tasks[t].flops;
	}
}

void plan_dump(const IaGraph *ia, const SimModel *m, PlaceKind placer, FILE *out)
{
	SimResult r;
	double serial, flops;
	plan_simulate(ia, m, &r, &serial, &flops);
	fprintf(out, "# plan: %d tasks on %d devices, placer %s\n", ia->ntasks, ia->ndevices, place_name(placer));
	plan_model(m, out);
	fputs("\nnode         partition              tasks  joins aggs repart leaves      flops       moved\n", out);
	PlanNodeStats *st = plan_all_stats(ia);
	for (int v = 0; v < ia->g->nnodes; v++)
		plan_node_row(ia, v, st[v], out);
	free(st);
	plan_row_groups(ia, out);
	plan_reuse_chains(ia->g, out);
	char mk[32], ser[32], mv[32];
	plan_time(mk, sizeof mk, r.makespan);
	plan_time(ser, sizeof ser, serial);
	plan_bytes(mv, sizeof mv, r.bytes_moved);
	fprintf(out, "\ntotal: %.3g flops, %s moved between devices in %d transfers\n", flops, mv, r.transfers);
	fprintf(out, "simulated makespan: %s (all tasks one after another on one device: %s, speed-up %.2fx)\n\n",
	        mk, ser, r.makespan > 0 ? serial / r.makespan : 1.0);
	plan_devices(ia, &r, out);
}

/* ---- Graphviz ---------------------------------------------------------------------- */

void plan_dump_dot(const TraGraph *g, const IaGraph *ia, FILE *out)
{
	fputs("digraph trac {\n  rankdir=TB;\n  node [fontname=\"monospace\", fontsize=10];\n", out);
	for (int v = 0; v < g->nnodes; v++) {
		const TraNode *n = &g->nodes[v];
		int tasks = 0;
		for (int t = 0; ia && t < ia->ntasks; t++)
			tasks += ia->tasks[t].node == v;
		fprintf(out, "  n%d [shape=%s, label=\"%%%d %s", v, n->part ? "box" : "ellipse", v, n->name);
		if (n->rank) {
			fputc('[', out);
			for (int d = 0; d < n->rank; d++)
				fprintf(out, "%s%s", d ? ", " : "", n->part ? n->idx[d].name : n->idx[d].sname ? n->idx[d].sname : "_");
			fputc(']', out);
		}
		if (n->part) {
			fputs("\\npartition", out);
			for (int d = 0; d < n->nidx; d++)
				fprintf(out, " %s:%d", n->idx[d].name, n->part[d]);
			fprintf(out, "\\n%d tasks, %.3g flops", tasks, n->flops);
		}
		fprintf(out, "\"%s];\n", n->is_output ? ", peripheries=2" : "");
	}
	for (int v = 0; v < g->nnodes; v++)
		for (int k = 0; k < g->nodes[v].nops; k++) {
			bool seen = false;
			for (int j = 0; j < k; j++)
				seen |= g->nodes[v].ops[j].node == g->nodes[v].ops[k].node;
			if (!seen)
				fprintf(out, "  n%d -> n%d;\n", g->nodes[v].ops[k].node, v);
		}
	fputs("}\n", out);
}

/* ---- JSON, for tools ------------------------------------------------------------------ */

/* A JSON string: quotes, backslashes and control bytes escaped. */
static void plan_json_string(const char *s, FILE *out)
{
	fputc('"', out);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			fprintf(out, "\\%c", c);
		else if (c < 0x20)
			fprintf(out, "\\u%04x", c);
		else
			fputc(c, out);
	}
	fputc('"', out);
}

/* A tensor's interface: {"name": .., "dtype": "f32", "shape": [..], "dims": [..]}. */
static void plan_json_tensor(const TraNode *n, FILE *out)
{
	fputs("{\"name\": ", out);
	plan_json_string(n->name, out);
	fprintf(out, ", \"dtype\": \"%s\", \"shape\": [", trart_dtype_name(n->type));
	for (int d = 0; d < n->rank; d++)
		fprintf(out, "%s%lld", d ? ", " : "", (long long)n->idx[d].size);
	fputs("], \"dims\": [", out);
	for (int d = 0; d < n->rank; d++) {
		fputs(d ? ", " : "", out);
		if (n->idx[d].sname)
			plan_json_string(n->idx[d].sname, out);
		else
			fputs("null", out);
	}
	fputs("]}", out);
}

void plan_dump_signature_json(const TraGraph *g, const char *name, FILE *out)
{
	fputs("{\n  \"name\": ", out);
	plan_json_string(name, out);
	fputs(",\n  \"sizes\": {", out);
	for (int k = 0; k < g->nsizes; k++) {
		fputs(k ? ", " : "", out);
		plan_json_string(g->sizes[k].name, out);
		fprintf(out, ": %lld", (long long)g->sizes[k].value);
	}
	fputs("},\n  \"inputs\": [", out);
	int ni = 0;
	for (int v = 0; v < g->nnodes; v++)
		if (g->nodes[v].kind == TRA_NODE_INPUT) {
			fputs(ni++ ? ",\n    " : "\n    ", out);
			plan_json_tensor(&g->nodes[v], out);
		}
	fputs(ni ? "\n  ],\n  \"outputs\": [" : "],\n  \"outputs\": [", out);
	for (int k = 0; k < g->noutputs; k++) {
		fputs(k ? ",\n    " : "\n    ", out);
		plan_json_tensor(&g->nodes[g->outputs[k]], out);
	}
	fputs(g->noutputs ? "\n  ]\n}\n" : "]\n}\n", out);
}

/* One node of the plan: partition, task counts, flops, bytes moved. */
static void plan_json_node(const IaGraph *ia, int v, PlanNodeStats st, FILE *out)
{
	const TraNode *n = &ia->g->nodes[v];
	fprintf(out, "    {\"id\": %d, \"name\": ", v);
	plan_json_string(n->name, out);
	fprintf(out, ", \"kind\": \"%s\", \"partition\": ", n->kind == TRA_NODE_INPUT ? "input" : "einsum");
	if (n->part) {
		fputc('{', out);
		for (int d = 0; d < n->nidx; d++) {
			fputs(d ? ", " : "", out);
			plan_json_string(n->idx[d].name, out);
			fprintf(out, ": %d", n->part[d]);
		}
		fputc('}', out);
	} else {
		fputs("null", out);
	}
	fprintf(out, ", \"tasks\": %d, \"joins\": %d, \"aggregations\": %d, \"repartitions\": %d, "
	        "\"leaves\": %d, \"flops\": %.17g, \"bytes_moved\": %.17g}",
	        st.total, st.count[IA_JOIN] + st.count[IA_FUSED], st.count[IA_AGG], st.count[IA_REPART],
	        st.count[IA_INPUT], st.flops, st.moved);
}

void plan_dump_json(const IaGraph *ia, const SimModel *m, PlaceKind placer, const struct Memgraph *mg,
                    FILE *out)
{
	SimResult r;
	double serial, flops;
	plan_simulate(ia, m, &r, &serial, &flops);
	fprintf(out, "{\n  \"placer\": \"%s\", \"devices\": %d, \"tasks\": %d,\n", place_name(placer),
	        ia->ndevices, ia->ntasks);
	fprintf(out, "  \"model\": {\"gemm_flops\": %.17g, \"elt_flops\": %.17g, \"bandwidth\": %.17g, "
	        "\"link_bandwidth\": %.17g, \"latency\": %.17g},\n",
	        m->gemm_flops, m->elt_flops, m->mem_bw, m->link_bw, m->latency);
	fputs("  \"nodes\": [\n", out);
	PlanNodeStats *st = plan_all_stats(ia);
	for (int v = 0; v < ia->g->nnodes; v++) {
		plan_json_node(ia, v, st[v], out);
		fputs(v + 1 < ia->g->nnodes ? ",\n" : "\n", out);
	}
	free(st);
	fprintf(out, "  ],\n  \"flops\": %.17g, \"bytes_moved\": %.17g, \"transfers\": %d,\n"
	        "  \"makespan_s\": %.17g, \"serial_s\": %.17g,\n  \"per_device\": [\n",
	        flops, r.bytes_moved, r.transfers, r.makespan, serial);
	for (int d = 0; d < r.ndevices; d++) {
		int tasks = 0;
		for (int t = 0; t < ia->ntasks; t++)
			tasks += ia->tasks[t].device == d;
		fprintf(out, "    {\"device\": %d, \"busy_s\": %.17g, \"utilisation\": %.17g, "
		        "\"peak_bytes\": %.17g, \"tasks\": %d}%s\n", d, r.busy[d],
		        r.makespan > 0 ? r.busy[d] / r.makespan : 0, r.peak_mem[d], tasks,
		        d + 1 < r.ndevices ? "," : "");
	}
	fputs("  ]", out);
	if (mg) {
		fputs(",\n  \"memory\": ", out);
		memgraph_plan_json(mg, ia, m, out);
	}
	fputs("\n}\n", out);
}

/* ---- ranks ----------------------------------------------------------------------------- */

/* What each rank sends and receives: the runtime's rule (sched.c's
 * sched_ranks_plan), on the same task table. A task that writes runs on
 * its device's rank; one that only orders, on every rank that runs one
 * of its readers; a written block goes to every other rank that runs one
 * of its readers and, when it is a final block of an output, to rank 0;
 * it moves as its pieces (kplan_task_pieces). */
static void plan_rank_traffic(const KplanProgram *kp, double *sent, double *recv, double *gather,
                              double *compute, const SimModel *m)
{
	const IaGraph *ia = kp->ia;
	int nt = ia->ntasks;
	uint64_t *need = xcalloc((size_t)nt + 1, sizeof *need);
	KplanPiece *pc = xcalloc((size_t)nt + 2, sizeof *pc);
	int *order = ia_topo_order(kp->ia);
	for (int j = nt - 1; j >= 0; j--) {
		int t = order[j];
		const KplanTask *kt = &kp->tasks[t];
		for (int i = 0; i < kt->nsucc; i++)
			need[t] |= need[kt->succ[i]];
		int n = kplan_task_pieces(kp, t, pc);
		if (n == 0)
			continue;
		int r = sim_rank(m, ia->tasks[t].device);
		uint64_t dest = need[t], read = need[t];
		double bytes = 0;
		for (int i = 0; i < n; i++) {
			double b = pc[i].elsize;
			for (int d = 0; d < pc[i].ndim; d++)
				b *= (double)pc[i].size[d];
			bytes += b;
			if (pc[i].host == KPLAN_PIECE_OUTPUT)
				dest |= 1;
		}
		need[t] = (uint64_t)1 << r;
		dest &= ~need[t];
		compute[r] += sim_task_time(&ia->tasks[t], m);
		for (int q = 0; q < ia->nranks; q++)
			if (dest >> q & 1) {
				sent[r] += bytes;
				recv[q] += bytes;
				if (!(read >> q & 1)) /* rank 0 reads it not: an output's block */
					gather[q] += bytes;
			}
	}
	free(pc);
	free(need);
	free(order);
}

/* The lower bound on the words one of p devices receives for a
 * contraction of m x k by k x n (RESEARCH.md: Loomis-Whitney, with the
 * constants of arXiv 2205.13407), sizes sorted so that m >= n >= k and
 * o the words a device owns. */
static double plan_comm_bound(double a, double b, double c, double p)
{
	double s[3] = {a, b, c};
	for (int i = 0; i < 3; i++)
		for (int j = i + 1; j < 3; j++)
			if (s[j] > s[i]) {
				double x = s[i];
				s[i] = s[j];
				s[j] = x;
			}
	double m = s[0], n = s[1], k = s[2], o = (m * n + m * k + n * k) / p;
	if (p <= 1)
		return 0;
	if (p <= m / n)
		return n * k * (1 - 1 / p);
	if (p <= m * n / (k * k))
		return 2 * sqrt(m * n * k * k / p) + m * n / p - o;
	return 3 * pow(m * n * k / p, 2.0 / 3) - o;
}

/* The program's largest contraction (by m n k, batch included) that
 * BLAS computes; -1 when it has none. */
static int plan_largest_contraction(const TraGraph *g, GemmPlan *best)
{
	int at = -1;
	double most = 0;
	for (int v = 0; v < g->nnodes; v++) {
		GemmPlan p;
		const TraNode *n = &g->nodes[v];
		if (n->kind != TRA_NODE_EINSUM || !gemm_plan(g, n, GEMM_NODE, &p))
			continue;
		double size = (double)gemm_group_size(n, &p.batch) * gemm_group_size(n, &p.m) *
		              gemm_group_size(n, &p.nn) * gemm_group_size(n, &p.k) * gemm_group_size(n, &p.kloop);
		if (size > most) {
			most = size;
			at = v;
			*best = p;
		}
	}
	return at;
}

/* The bound's line: per rank, for the largest contraction on R ranks
 * (batch indices split for free: R / batch ranks share each product). */
static void plan_bound_line(const TraGraph *g, int ranks, double most_recv, FILE *out)
{
	GemmPlan p;
	int v = plan_largest_contraction(g, &p);
	if (v < 0) {
		fputs("lower bound: the program has no contraction\n", out);
		return;
	}
	const TraNode *n = &g->nodes[v];
	double batch = (double)gemm_group_size(n, &p.batch), per = ranks / batch;
	double words = per > 1 ? plan_comm_bound((double)gemm_group_size(n, &p.m), (double)gemm_group_size(n, &p.nn),
	                                         (double)gemm_group_size(n, &p.k) * gemm_group_size(n, &p.kloop), per)
	                       : 0;
	double bytes = words * (double)trart_dtype_size(n->type);
	char b[32], r[32];
	plan_bytes(b, sizeof b, bytes);
	plan_bytes(r, sizeof r, most_recv);
	fprintf(out, "lower bound for %s (the largest contraction) on %d ranks: %s received per rank, "
	        "if each held 1/%d of its operands; the plan's most (outputs aside): %s", n->name, ranks, b,
	        ranks, r);
	if (bytes > 0)
		fprintf(out, " (%.2fx)", most_recv / bytes);
	fputs("\n(every rank reads the inputs it needs from their files: inputs never move)\n", out);
}

void plan_dump_ranks(const TraGraph *g, const IaGraph *ia, const SimModel *m, FILE *out)
{
	KplanProgram kp;
	kplan_build(g, ia, NULL, &kp);
	int R = ia->nranks;
	double *sent = xcalloc((size_t)R, sizeof *sent), *recv = xcalloc((size_t)R, sizeof *recv);
	double *compute = xcalloc((size_t)R, sizeof *compute), most = 0, total = 0;
	double *gather = xcalloc((size_t)R, sizeof *gather);
	plan_rank_traffic(&kp, sent, recv, gather, compute, m);
	fprintf(out, "\nranks: %d, %d devices each (messages at %.3g GB/s after %.3g us)\n", R, ia->rank_devices,
	        m->rank_bw / 1e9, m->rank_latency * 1e6);
	for (int r = 0; r < R; r++) {
		char c[32];
		plan_time(c, sizeof c, compute[r]);
		fprintf(out, "  rank %d: compute %s, sends %.0f bytes, receives %.0f bytes", r, c, sent[r], recv[r]);
		if (gather[r] > 0)
			fprintf(out, " (%.0f of them outputs' blocks, to write)", gather[r]);
		fputc('\n', out);
		most = recv[r] - gather[r] > most ? recv[r] - gather[r] : most;
		total += sent[r];
	}
	fprintf(out, "bytes between ranks: %.0f\n", total);
	plan_bound_line(g, R, most, out);
	free(sent);
	free(recv);
	free(compute);
	free(gather);
	kplan_free(&kp);
}
