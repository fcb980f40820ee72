#!/usr/bin/env python3
"""patch_bochs.py BOCHS_DIR: five changes a Bochs source tree needs before Linux runs AMX code
on its Sapphire Rapids model (each found while bringing bertd's AMX kernels up on it):

1. XFD. Linux enables AMX tile data only where CPUID says the CPU has XFD (extended feature
   disable: leaf 0xD.1 EAX bit 4, leaf 0xD.18 ECX bit 2), and uses the IA32_XFD (0x1C4) and
   IA32_XFD_ERR (0x1C5) MSRs to trap a process's first tile instruction (#NM) and give it
   the 8 KiB of tile state. Added: the CPUID bits, the two MSRs, and the #NM in LDTILECFG,
   TILEZERO and the common tile check while IA32_XFD bit 18 is set.
2. The compacted XSAVE size in CPUID leaf 0xD.1 EBX ignored the 64-byte alignment of the
   components that ask for it (AMX tile config and data after CET state): Linux's
   consistency check then disables XSAVE and with it AVX.
3. The int8 tile dot products read signed bytes as unsigned (tdpbusd, tdpbssd, tdpbsud): a
   product of 255 * x where -1 * x was meant.

4. The tile state did not survive a context switch: XSAVE wrote the tile configuration's rows
   and bytes per row into each other's fields (so XRSTOR unconfigured the tiles and the next
   tile instruction raised #UD), saved and restored 8 of each tile's 16 rows, and reported the
   tile data in use exactly when it was not (so XSAVE skipped live tiles).

5. VCVTNE2PS2BF16 (AVX512-BF16) filled the upper half of its result from elements 16-31 of
   its first source, past the register's 16, instead of elements 0-15.

Idempotent: a tree already patched is left as it is."""
import re
import sys
from pathlib import Path

root = Path(sys.argv[1])


def edit(rel, old, new):
    p = root / rel
    s = p.read_text(encoding="latin-1")
    if new in s:
        return
    if old not in s:
        sys.exit(f"{rel}: anchor not found (a Bochs version this script does not know): {old[:60]!r}")
    p.write_text(s.replace(old, new, 1), encoding="latin-1")


XFD_CHECK = ("  if (BX_CPU_THIS_PTR msr.ia32_xfd & (1 << 18)) {\n"
             "    BX_CPU_THIS_PTR msr.ia32_xfd_err |= (1 << 18);\n"
             "    exception(BX_NM_EXCEPTION, 0);\n  }\n")

# 1. XFD
edit("cpu/cpu.h", "  Bit64u ia32_xss;\n", "  Bit64u ia32_xss;\n  Bit64u ia32_xfd, ia32_xfd_err;\n")
edit("cpu/init.cc", "  BX_CPU_THIS_PTR msr.ia32_umwait_ctrl = 0;\n",
     "  BX_CPU_THIS_PTR msr.ia32_umwait_ctrl = 0;\n"
     "#if BX_CPU_LEVEL >= 6\n"
     "  BX_CPU_THIS_PTR msr.ia32_xfd = BX_CPU_THIS_PTR msr.ia32_xfd_err = 0;\n#endif\n")
edit("cpu/msr.cc", "  msr_desc[BX_MSR_XSS] = new MSR_Descriptor(",
     "#if BX_SUPPORT_AMX\n"
     "  msr_desc[BX_MSR_IA32_XFD] = new MSR_Descriptor(\"MSR_IA32_XFD\", BX_ISA_AMX, ~Bit64u(1 << 18));\n"
     "  msr_desc[BX_MSR_IA32_XFD_ERROR] = new MSR_Descriptor(\"MSR_IA32_XFD_ERR\", BX_ISA_AMX, ~Bit64u(1 << 18));\n"
     "#endif\n"
     "  msr_desc[BX_MSR_XSS] = new MSR_Descriptor(")
edit("cpu/msr.cc", "    case BX_MSR_XSS:\n      val64 = BX_CPU_THIS_PTR msr.ia32_xss;\n      break;\n",
     "    case BX_MSR_XSS:\n      val64 = BX_CPU_THIS_PTR msr.ia32_xss;\n      break;\n"
     "    case BX_MSR_IA32_XFD:\n      val64 = BX_CPU_THIS_PTR msr.ia32_xfd;\n      break;\n"
     "    case BX_MSR_IA32_XFD_ERROR:\n      val64 = BX_CPU_THIS_PTR msr.ia32_xfd_err;\n      break;\n")
edit("cpu/msr.cc", "      BX_CPU_THIS_PTR msr.ia32_xss = val_64;\n      break;\n",
     "      BX_CPU_THIS_PTR msr.ia32_xss = val_64;\n      break;\n"
     "    case BX_MSR_IA32_XFD:\n      BX_CPU_THIS_PTR msr.ia32_xfd = val_64;\n      break;\n"
     "    case BX_MSR_IA32_XFD_ERROR:\n      BX_CPU_THIS_PTR msr.ia32_xfd_err = val_64;\n      break;\n")
edit("cpu/cpuid.cc", "      leaf->eax |= (1<<3);\n",
     "      leaf->eax |= (1<<3);\n    if (is_cpu_extension_supported(BX_ISA_AMX))\n      leaf->eax |= (1<<4);\n")
edit("cpu/crregs.cc", "xsave_restore[xcr0_t::BX_XCR0_XTILEDATA_BIT].attr   = BX_XSAVE_ALIGN64;",
     "xsave_restore[xcr0_t::BX_XCR0_XTILEDATA_BIT].attr   = BX_XSAVE_ALIGN64 | BX_XSAVE_XFD_SUPPORT;")
for fn in ("BX_CPU_C::LDTILECFG(bxInstruction_c *i)\n{\n",
           "BX_CPU_C::TILEZERO_Tnnn(bxInstruction_c *i)\n{\n",
           "BX_CPU_C::check_tile(bxInstruction_c *i, unsigned tile_num)\n{\n"):
    edit("cpu/avx/amx.cc", fn, fn + XFD_CHECK)

# 2. the compacted size: align where the component asks
edit("cpu/cpuid.cc", "    if (features & (1 << n))\n      max_size += xsave_restore[n].len;\n",
     "    if (features & (1 << n)) {\n"
     "      if (xsave_restore[n].attr & BX_XSAVE_ALIGN64) max_size = (max_size + 63) & ~63u;\n"
     "      max_size += xsave_restore[n].len;\n    }\n")

# 3. signed bytes in the int8 dot products: DPBDSS (both), DPBDSU (x), DPBDUS (y)
p = root / "cpu/avx/amx.cc"
s = p.read_text(encoding="latin-1")
for name, signed in (("DPBDSS", "xy"), ("DPBDSU", "x"), ("DPBDUS", "y")):
    m = re.search(r"BX_CPP_INLINE Bit32u %s\(.*?\n}\n" % name, s, re.S)
    if not m:
        sys.exit(f"cpu/avx/amx.cc: {name} not found")
    body = m.group(0)
    for v in signed:
        body = re.sub(r"Bit32s\(%sbyte\[(\d)\]\)" % v, r"Bit32s(Bit8s(%sbyte[\1]))" % v, body)
    s = s[:m.start()] + body + s[m.end():]
p.write_text(s, encoding="latin-1")

# 4. the tile state through XSAVE / XRSTOR
edit("cpu/xsave.cc",
     "      tilecfg.vmm16u(8+n)    = BX_CPU_THIS_PTR amx->tilecfg[n].rows;\n"
     "      tilecfg.vmmubyte(48+n) = BX_CPU_THIS_PTR amx->tilecfg[n].bytes_per_row;\n",
     "      tilecfg.vmm16u(8+n)    = BX_CPU_THIS_PTR amx->tilecfg[n].bytes_per_row;\n"
     "      tilecfg.vmmubyte(48+n) = BX_CPU_THIS_PTR amx->tilecfg[n].rows;\n")
p = root / "cpu/xsave.cc"
s = p.read_text(encoding="latin-1")
s = s.replace("for (unsigned row=0; row < BX_TILE_REGISTERS; row++)",
              "for (unsigned row=0; row < BX_TILE_MAX_ROWS; row++)")
p.write_text(s, encoding="latin-1")
edit("cpu/xsave.cc", "return (BX_CPU_THIS_PTR amx->tile_use_tracker == 0);",
     "return (BX_CPU_THIS_PTR amx->tile_use_tracker != 0);")

# 5. vcvtne2ps2bf16's upper half: the first source's elements from 0
edit("cpu/avx/avx512_bf16.cc",
     "    dst.vmm16u(n) = convert_ne_fp32_to_bfloat16(op1.vmm32u(n));",
     "    dst.vmm16u(n) = convert_ne_fp32_to_bfloat16(op1.vmm32u(n - DWORD_ELEMENTS(len)));")
print("patched", root)
