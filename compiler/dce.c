/* dce.c: dead-code removal.
 * needs: a verified TraGraph. gives: every einsum is an output or read by a live node.
 *
 * An einsum that no output depends on, directly or through other nodes,
 * is dead: a statement nobody reads, a node CSE redirected every reader
 * away from, a map fusion inlined into its one reader. Liveness is one
 * backward sweep (nodes are in a topological order, so every reader of
 * a node comes after it); the node array is then rebuilt in the same
 * order without the dead einsums, and operand ids and outputs are
 * renumbered. Inputs stay, read or not: they are the program's
 * interface. Linear in nodes plus operands.
 */
#include "tra.h"


void dce_remove(TraGraph *g)
{
	Arena scratch = {0};
	int nold = g->nnodes;
	bool *live = arena_alloc(&scratch, (size_t)(nold + 1) * sizeof *live);
	int *map = arena_alloc(&scratch, (size_t)(nold + 1) * sizeof *map);
	tra_live_nodes(g, live);
	TraNode *old = g->nodes;
	g->nodes = NULL;
	g->nnodes = g->nodecap = 0;
	for (int id = 0; id < nold; id++) {
		map[id] = -1;
		if (!live[id] && old[id].kind != TRA_NODE_INPUT)
			continue;
		TraNode n = old[id];
		for (int k = 0; k < n.nops; k++)
			n.ops[k].node = map[n.ops[k].node];
		map[id] = tra_node_new(g, &n);
	}
	for (int i = 0; i < g->noutputs; i++)
		g->outputs[i] = map[g->outputs[i]];
	arena_free(&scratch);
}
