"""wide.py TRAC N: N random programs at trac's dimension limits, each
through --emit=tra, which must exit 0 or 1 (an error, with a message),
never crash. Products of 3 to 5 operands over 17 to 22 indices, whose
cheapest contraction order may want an intermediate of more than 16
dimensions, and nested reductions that leave 15 to 18 indices free:
the two kinds of program that once overflowed fixed 16-entry arrays
(order.c, sema.c); and a chain of 20,000 maps, which fusion once inlined
in quadratic memory (8 GB at 8,000; out of memory at 20,000). Prints PASS or FAIL per class and the counts."""
import random
import subprocess
import sys
import tempfile
import os

LETTERS = "abcdefghijklmnopqrstuvw"


def product(r):
    idx = LETTERS[:r.randint(17, 22)]
    ops = [r.sample(idx, r.randint(4, 16)) for _ in range(r.randint(3, 5))]
    used = [i for i in idx if any(i in o for o in ops)]
    out = r.sample(used, r.randint(0, min(3, len(used))))
    red = [i for i in used if i not in out]
    lines = ["size N = 2"] + ["input X%d[%s]" % (k, ", ".join("N" for _ in o)) for k, o in enumerate(ops)]
    lhs = "Z[%s]" % ", ".join(out) if out else "Z"
    body = " * ".join("X%d[%s]" % (k, ", ".join(o)) for k, o in enumerate(ops))
    return lines + ["%s = sum[%s](%s)" % (lhs, ", ".join(red), body), "output Z"]


def nested(r):
    free = LETTERS[:r.randint(15, 18)]
    half = r.randint(1, len(free) - 1)
    a, b = free[:half], free[half:]
    agg = r.choice(["max", "sum", "min"])
    return ["size N = 2",
            "input X[%s]" % ", ".join("N" for _ in range(len(a) + 1)),
            "input Y[%s]" % ", ".join("N" for _ in range(len(b) + 1)),
            "s = sum[%s](%s[r](X[%s, r] * Y[%s, r]))" % (", ".join(free), agg, ", ".join(a), ", ".join(b)),
            "output s"]


def chain(n):
    """n single-use maps in a row: fusion inlines them all into one node
    (it once copied the growing expression at each step: quadratic memory)."""
    lines = ["size N = 4", "input X[N]"]
    prev = "X"
    for k in range(n):
        lines.append("T%d[i] = %s[i] * 1.001 + 0.5" % (k, prev))
        prev = "T%d" % k
    return lines + ["output " + prev]


def check_chain(trac, tmp, n):
    path = os.path.join(tmp, "chain.tra")
    with open(path, "w") as f:
        f.write("\n".join(chain(n)) + "\n")
    p = subprocess.run([trac, path, "--emit=tra"], capture_output=True, text=True, timeout=600)
    head = p.stdout.split("\n", 1)[0]
    ok = p.returncode == 0 and head == "# TRA graph: 2 nodes"  # the input and one einsum
    if not ok:
        print("  exit %d, '%s': %s" % (p.returncode, head, p.stderr.strip()[-200:]))
    print("%s chain of %d maps fused into one node" % ("PASS" if ok else "FAIL", n))
    return ok


def main():
    trac, n = sys.argv[1], int(sys.argv[2])
    failed = 0
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "w.tra")
        for name, gen in (("products", product), ("nested", nested)):
            bad = 0
            for seed in range(n):
                lines = gen(random.Random(seed))
                with open(path, "w") as f:
                    f.write("\n".join(lines) + "\n")
                p = subprocess.run([trac, path, "--emit=tra"], capture_output=True, text=True, timeout=60)
                if p.returncode not in (0, 1) or (p.returncode == 1 and "error:" not in p.stderr):
                    bad += 1
                    print("  seed %d exit %d: %s" % (seed, p.returncode, p.stderr.strip()[-200:]))
                    print("  " + "\n  ".join(lines))
            print("%s %s (%d programs)" % ("FAIL" if bad else "PASS", name, n))
            failed += bad > 0
        failed += not check_chain(trac, tmp, 20000)
    print("%d passed, %d failed" % (3 - failed, failed))
    return 1 if failed else 0


sys.exit(main())
