"""Fails when an instruction beyond a CPU level's leaks out of that level's code.

    python3 cpu_levels_isolated.py LEVEL=OBJ|OBJ|... [LEVEL=...]

Disassembles each kernel object of each level (objdump) and checks that every function using
VEX/EVEX encodings (v* mnemonics, ymm/zmm or mask registers) is either in the level's own
namespace simhost::cpu_<level> (for generic: none is), or one of the runtime-checked AVX-512
and AVX2 helpers of random.hpp (target attribute, called only when cpu_has_avx512() or
cpu_has_avx2()). Anything else is
a header's inline or template function compiled with the level's instruction sets: the linker
keeps one copy of those for all levels, so it would run on CPUs without them (see
kernels/src/cpu_level.hpp). Exit status 0 when clean, 1 with the offenders listed.
"""

import re
import subprocess
import sys

FUNCTION = re.compile(r"^[0-9a-f]+ <(.*)>:$")
VEX = re.compile(r"^\s*[0-9a-f]+:\s+(v[a-z0-9]+\s|k[a-z]+[bwdq]?\s)|%[yz]mm\d|%k[0-7]")
# random.hpp's AVX-512 and AVX2 blocks: SIMHOST_TARGET_AVX512 / SIMHOST_TARGET_AVX2, behind
# detail::cpu_has_avx512() / cpu_has_avx2(). Out of line (as in the sanitizer builds) a
# template's name comes with its return type and template arguments:
# "void simhost::detail::philox4x32_streams_x8<1>(...)".
RUNTIME_CHECKED = re.compile(
    r"^(?:[\w:]+ )?simhost::detail::(philox4x32_\w+?(_x8|_avx512|_avx2)|mulhilo_x8_avx2|"
    r"unit_from_words_x[48]|box_muller_x[48])(<[^>]*>)?\(")


def offenders(level, obj):
    text = subprocess.run(["objdump", "-d", "-C", "--no-show-raw-insn", obj], check=True,
                          stdout=subprocess.PIPE, text=True).stdout
    own = f"simhost::cpu_{level}::"
    bad, function, vex_functions = set(), None, 0
    for line in text.splitlines():
        m = FUNCTION.match(line)
        if m:
            function = m.group(1)
            continue
        if function and VEX.search(line):
            if own in function and level != "generic":
                vex_functions += 1
            elif not RUNTIME_CHECKED.match(function):
                bad.add(function)
    return bad, vex_functions


def main(argv):
    failed, checked = [], 0
    for arg in argv:
        level, _, objs = arg.partition("=")
        for obj in filter(None, objs.split("|")):
            bad, used = offenders(level, obj)
            checked += 1
            failed += [f"{obj} ({level}): {name}" for name in sorted(bad)]
            if level != "generic" and used == 0:
                failed.append(f"{obj} ({level}): no function of the level uses its instruction "
                              "sets (is the level's #pragma GCC target in effect?)")
    if failed:
        print("instructions beyond the level outside its code:\n  " + "\n  ".join(failed))
        return 1
    print(f"{checked} kernel objects: every level's instructions stay in its own code")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
