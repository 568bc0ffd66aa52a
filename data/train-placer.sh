#!/bin/sh
# train-placer.sh: trains the weights of trac's learned placer
# (--placer=learned) that trac installs as its default, reproducibly.
#
# Usage: sh data/train-placer.sh TRAC OUT [SEED [EPISODES]]
#   TRAC      the trac to train with (e.g. ./trac)
#   OUT       the weights file to write (data/placer.weights is seed 1's)
#   SEED      --train-seed (default 1)
#   EPISODES  --train's stages (default: trac's own, imitate:1000,reinforce:2000)
# Environment: TRAIN_PLACER_CORPUS=DIR writes the corpus into DIR and keeps
# it (default: a temporary directory, removed at the end).
#
# It writes a corpus of .tra programs (the heredocs below, sizes filled
# in), then runs
#   $TRAC --train-placer=$OUT --train-seed=$SEED --train-devices=2,4,8 FILES
# and passes trac's one-line summary along on stdout. The corpus:
#   - matrix chains of 3 to 6 matrices of assorted shapes, as one product
#     per statement and as one contraction;
#   - MLPs of 2 and 3 layers (relu, tanh-GELU, erf-GELU, SiLU), assorted
#     batch and widths;
#   - transformer blocks: attention with 1, 2 or 4 heads (softmax; some
#     causal, some batched), layernorm or RMSNorm, and a relu, GELU or
#     SwiGLU feed-forward layer, at assorted sequence lengths and widths.
# bench/placer.py evaluates the result on programs kept out of this corpus
# (other head counts, deeper MLPs, other chains, samples/); keep them out.
# The 18 programs have 28 to 331 tasks each at --devices=8 (--emit=taskgraph),
# 54 graphs in all, and the whole run takes about 2.5 s on two cores with
# trac's default episodes (2648 simulator calls). More episodes fit the
# corpus a little better but generalise worse: imitate:3000,reinforce:10000
# (25 s) took the held-out mean on 8 devices from 0.994 to 1.048 of
# critical path's makespan (bench/placer.py), so the defaults stay.
set -eu

if [ $# -lt 2 ] || [ $# -gt 4 ]; then
	echo "usage: sh data/train-placer.sh TRAC OUT [SEED [EPISODES]]" >&2
	exit 2
fi
TRAC=$1
OUT=$2
SEED=${3:-1}
EPISODES=${4:-}

if [ -n "${TRAIN_PLACER_CORPUS:-}" ]; then
	dir=$TRAIN_PLACER_CORPUS
	mkdir -p "$dir"
else
	dir=$(mktemp -d "${TMPDIR:-/tmp}/train-placer.XXXXXX")
	trap 'rm -rf "$dir"' EXIT
	trap 'rm -rf "$dir"; exit 130' INT TERM
fi

# --- matrix chains ---------------------------------------------------------

# chain_steps NAME D0 D1 .. Dn: A1[D0, D1] .. An[Dn-1, Dn], multiplied left
# to right, one product per statement.
chain_steps() {
	name=$1
	shift
	n=$(($# - 1))
	sizes="S0 = $1"
	k=0
	shift
	inputs=
	body=
	for d in "$@"; do
		k=$((k + 1))
		sizes="$sizes, S$k = $d"
		inputs="$inputs${inputs:+, }A${k}[S$((k - 1)), S$k]"
		if [ $k -eq 2 ]; then
			body="T2[i, m] = sum[j](A1[i, j] * A2[j, m])"
		elif [ $k -gt 2 ]; then
			p=$((k - 1))
			body="$body
T${k}[i, m] = sum[j](T${p}[i, j] * A${k}[j, m])"
		fi
	done
	cat >"$dir/$name.tra" <<END
# a chain of $n matrices, one product per statement
size $sizes
input $inputs
$body
output T$n
END
}

# chain_einsum NAME D0 D1 .. Dn: the same chain as one contraction.
chain_einsum() {
	name=$1
	shift
	n=$(($# - 1))
	sizes="S0 = $1"
	shift
	k=0
	inputs=
	factors=
	reduced=
	for d in "$@"; do
		k=$((k + 1))
		sizes="$sizes, S$k = $d"
		inputs="$inputs${inputs:+, }A${k}[S$((k - 1)), S$k]"
		factors="$factors${factors:+ * }A${k}[i$((k - 1)), i$k]"
		if [ $k -lt $n ]; then
			reduced="$reduced${reduced:+, }i$k"
		fi
	done
	cat >"$dir/$name.tra" <<END
# a chain of $n matrices as one contraction (trac picks the order)
size $sizes
input $inputs
Y[i0, i$n] = sum[$reduced]($factors)
output Y
END
}

chain_steps chain3_steps 1024 256 1024 512
chain_steps chain4_steps 512 2048 128 1024 256
chain_steps chain5_steps 256 512 512 1024 256 512
chain_steps chain6_steps 2048 64 1024 256 512 128 1024
chain_einsum chain3_einsum 2048 512 2048 128
chain_einsum chain4_einsum 1024 1024 256 2048 512
chain_einsum chain5_einsum 512 128 1024 512 256 1024

# --- MLPs ------------------------------------------------------------------

# act NAME X: the activation NAME applied to the expression X.
act() {
	case $1 in
	relu) echo "relu($2)" ;;
	gelu) echo "0.5 * $2 * (1 + tanh(0.7978845608 * ($2 + 0.044715 * $2 * $2 * $2)))" ;;
	erf) echo "0.5 * $2 * (1 + erf($2 * 0.7071067811865476))" ;;
	silu) echo "$2 * sigmoid($2)" ;;
	esac
}

# mlp NAME ACT SOFTMAX N D0 D1 .. Dk: k layers on a batch of N rows, biases,
# ACT after each layer but the last, then a row softmax if SOFTMAX is 1.
mlp() {
	name=$1 a=$2 soft=$3 n=$4
	shift 4
	sizes="N = $n, D0 = $1"
	shift
	k=0
	inputs="X[N, D0]"
	body=
	prev=X
	for d in "$@"; do
		k=$((k + 1))
		sizes="$sizes, D$k = $d"
		inputs="$inputs, W${k}[D$((k - 1)), D$k], c${k}[D$k]"
		lin="sum[e](${prev}[i, e] * W${k}[e, j]) + c${k}[j]"
		if [ $k -lt $# ]; then
			body="$body
U${k}[i, j] = $lin
H${k}[i, j] = $(act "$a" "U${k}[i, j]")"
			prev=H$k
		else
			body="$body
Z[i, j] = $lin"
		fi
	done
	if [ "$soft" = 1 ]; then
		body="$body
M[i] = max[j](Z[i, j])
E[i, j] = exp(Z[i, j] - M[i])
P[i, j] = E[i, j] / sum[j2](E[i, j2])"
		out=P
	else
		out=Z
	fi
	cat >"$dir/$name.tra" <<END
# a $#-layer perceptron ($a), batch $n
size $sizes
input $inputs
$body
output $out
END
}

mlp mlp2_relu relu 1 1024 512 1024 64
mlp mlp3_gelu gelu 1 512 256 1024 512 10
mlp mlp2_erf erf 0 4096 256 512 128
mlp mlp3_silu silu 0 256 1024 2048 1024 1024
mlp mlp2_relu_wide relu 1 2048 128 2048 32

# --- transformer blocks ----------------------------------------------------

# block NAME B T C NH F NORM FFN CAUSAL: a pre-norm transformer block on
# sequences of T tokens of width C (B of them if B > 1): NH-head attention
# (head width C / NH) and a feed-forward layer of width F, each with a
# residual connection. NORM: ln (layernorm) or rms (RMSNorm); FFN: relu,
# gelu or swiglu; CAUSAL: 1 masks the future.
block() {
	name=$1 B=$2 T=$3 C=$4 NH=$5 F=$6 norm=$7 ffn=$8 causal=$9
	if [ "$B" -gt 1 ]; then
		b="b, " bsz="B = $B, " bd="B, "
	else
		b='' bsz='' bd=''
	fi
	# one head: no head index (it would range over one element)
	if [ "$NH" -gt 1 ]; then
		h="h, " hr="h:NH, " col="h * D + d"
	else
		h='' hr='' col=d
	fi
	if [ "$causal" = 1 ]; then
		score="select(s <= t, sum[d](Q[${b}t, ${h}d] * K[${b}s, ${h}d]) / sqrt(D), -inf)"
	else
		score="sum[d](Q[${b}t, ${h}d] * K[${b}s, ${h}d]) / sqrt(D)"
	fi
	extra=
	[ "$norm" = ln ] && extra="$extra, be1[C], be2[C]"
	[ "$ffn" = swiglu ] && extra="$extra, W3[C, F]"
	{
		cat <<END
# a transformer block: $NH-head attention (batch $B), $norm norm, $ffn feed-forward
size ${bsz}T = $T, C = $C, NH = $NH, D = C / NH, F = $F
input X[${bd}T, C], g1[C], g2[C], Wq[C, C], Wk[C, C], Wv[C, C], Wo[C, C]
input W1[C, F], W2[F, C]$extra

END
		norm_rows "$norm" X N1 g1 be1
		cat <<END
Q[${b}t, ${hr}d:D] = sum[c](N1[${b}t, c] * Wq[c, $col])
K[${b}t, ${hr}d:D] = sum[c](N1[${b}t, c] * Wk[c, $col])
V[${b}t, ${hr}d:D] = sum[c](N1[${b}t, c] * Wv[c, $col])
S[${b}${h}t, s] = $score
M[${b}${h}t] = max[s](S[${b}${h}t, s])
E[${b}${h}t, s] = exp(S[${b}${h}t, s] - M[${b}${h}t])
O[${b}t, ${h}d] = sum[s](E[${b}${h}t, s] * V[${b}s, ${h}d]) / sum[s](E[${b}${h}t, s])
Y1[${b}t, c] = X[${b}t, c] + sum[${h}d](O[${b}t, ${h}d] * Wo[$col, c])

END
		norm_rows "$norm" Y1 N2 g2 be2
		echo "U[${b}t, f] = sum[c](N2[${b}t, c] * W1[c, f])"
		case $ffn in
		swiglu) echo "G[${b}t, f] = U[${b}t, f] * sigmoid(U[${b}t, f]) * sum[c](N2[${b}t, c] * W3[c, f])" ;;
		*) echo "G[${b}t, f] = $(act "$ffn" "U[${b}t, f]")" ;;
		esac
		echo "Y[${b}t, c] = Y1[${b}t, c] + sum[f](G[${b}t, f] * W2[f, c])"
		echo "output Y"
	} >"$dir/$name.tra"
}

# norm_rows NORM IN OUT GAIN BIAS: OUT = IN normalised over c, row by row
# (uses $b from block).
norm_rows() {
	case $1 in
	ln)
		cat <<END
$3mu[${b}t] = mean[c]($2[${b}t, c])
$3va[${b}t] = mean[c](($2[${b}t, c] - $3mu[${b}t]) * ($2[${b}t, c] - $3mu[${b}t]))
$3[${b}t, c] = ($2[${b}t, c] - $3mu[${b}t]) * rsqrt($3va[${b}t] + 1e-5) * $4[c] + $5[c]
END
		;;
	rms)
		echo "$3[${b}t, c] = $2[${b}t, c] * rsqrt(mean[e]($2[${b}t, e] * $2[${b}t, e]) + 1e-5) * $4[c]"
		;;
	esac
}

block block1_ln_relu 1 256 256 1 1024 ln relu 0
block block1_rms_swiglu 1 512 512 1 1376 rms swiglu 1
block block2_rms_gelu 1 512 256 2 512 rms gelu 1
block block2_ln_batched 4 128 256 2 1024 ln relu 0
block block4_ln_swiglu 1 128 512 4 1024 ln swiglu 0
block block4_rms_long 1 1024 128 4 512 rms gelu 1

# --- training --------------------------------------------------------------

set -- "$dir"/*.tra
"$TRAC" --train-placer="$OUT" --train-seed="$SEED" --train-devices=2,4,8 \
	${EPISODES:+--train="$EPISODES"} "$@"
