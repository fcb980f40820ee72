#!/usr/bin/env bash
# run.sh [--parity] [BUILD_DIR]: bertd's AMX tests on an emulated Sapphire Rapids CPU, for
# machines without AMX (bertd's development and CI machines have none). Builds the Bochs
# emulator from its source (BOCHS_SRC, or a clone of github.com/bochs-emu/Bochs) with the
# five fixes patch_bochs.py makes, boots Debian 12's Linux 6.12 on it with a busybox
# initramfs, and runs BUILD_DIR's model_test_amx_hw (the AMX kernels on the tile
# instructions against their C emulation, and the model's kernel choice); with --parity, also
# the int8 and bf16 parity tests on MiniLM (BERTD_MODEL_DIR): hours by estimate (never run to
# the end), since every bf16 tile product is emulated in software floating point. Prints the guest's test output; exits 0 if
# every test run passed. Root (apt-get), Debian 12. Work files: BERTD_AMX_EMU_DIR (default
# .amx-emulator in the repository, not committed).
#
# Why the guest is set up as it is (each found by a boot that failed):
#  - Linux 6.12, not 6.1: Debian 12's 6.1 kernel stops early in boot on this emulator;
#  - GLIBC_TUNABLES turns off glibc's AVX/AVX2/EVEX string functions: on this emulator they
#    give wrong results (busybox could not find its own applets), so only bertd's code runs
#    the vector instructions under test;
#  - the payload (test binaries, their libraries, fixtures, model) is a tar read raw from a
#    second CD drive once Linux runs: GRUB, reading through the emulated BIOS, had not loaded
#    a 180 MB initramfs after several minutes.
set -euo pipefail
parity=0
if [ "${1:-}" = "--parity" ]; then parity=1; shift; fi
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
build=$(cd "${1:-$repo/build}" && pwd)
work=${BERTD_AMX_EMU_DIR:-$repo/.amx-emulator}
mkdir -p "$work"
cd "$work"

DEBIAN_FRONTEND=noninteractive apt-get install -y -q bochsbios vgabios grub-pc-bin grub-common \
  xorriso mtools busybox-static xz-utils g++ make libncurses-dev >/dev/null

# the emulator
if [ ! -x bochs/bochs ]; then
  src=${BOCHS_SRC:-}
  if [ -z "$src" ]; then
    rm -rf Bochs-git
    git clone -q --depth 1 https://github.com/bochs-emu/Bochs Bochs-git
    src=Bochs-git/bochs
  fi
  rm -rf bochs && cp -r "$src" bochs
  python3 "$here/patch_bochs.py" bochs
  (cd bochs && chmod +x configure && CFLAGS="-O2 -pipe" CXXFLAGS="-O2 -pipe" ./configure -q \
     --enable-all-optimizations --enable-cpu-level=6 --enable-x86-64 --enable-avx \
     --enable-evex --enable-amx --enable-pci --enable-cet --enable-fred --with-nogui \
     --disable-plugins >/dev/null && make -s -j"$(nproc)" >/dev/null 2>&1)
fi

# the guest's kernel and the modules that read the payload's CD drive
if [ ! -f kernel/vmlinuz ]; then
  pkg=$(apt-cache search --names-only '^linux-image-6\.12\.[0-9]+\+deb12-amd64$' | awk '{print $1}' | sort -V | tail -1)
  [ -n "$pkg" ] || { echo "run.sh: no linux-image-6.12 package in the apt sources" >&2; exit 1; }
  rm -rf kernel kdeb && mkdir -p kernel/mods kdeb
  (cd kdeb && apt-get download -q "$pkg" >/dev/null 2>&1 && dpkg-deb -x ./*.deb x)
  cp kdeb/x/boot/vmlinuz-* kernel/vmlinuz
  for m in scsi_common scsi_mod libata ata_piix cdrom sr_mod; do
    f=$(find kdeb/x/lib/modules -name "$m.ko*" | head -1)
    case "$f" in *.xz) xz -dc "$f" >"kernel/mods/$m.ko" ;; *) cp "$f" "kernel/mods/$m.ko" ;; esac
  done
  rm -rf kdeb
fi

# boot CD: GRUB, the kernel, an initramfs that loads the CD modules and unpacks the payload
rm -rf iso mini && mkdir -p iso/boot/grub mini/bin mini/proc mini/sys mini/dev mini/tmp mini/mods
cp /bin/busybox mini/bin/ && cp kernel/mods/*.ko mini/mods/
cat >mini/init <<'INIT'
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
for m in scsi_common scsi_mod libata ata_piix cdrom sr_mod; do insmod /mods/$m.ko; done
sleep 2; tar x -f /dev/sr1 -C / && exec /payload/run
echo "== payload could not be read"; poweroff -f
INIT
chmod +x mini/init
(cd mini && find . | busybox cpio -o -H newc 2>/dev/null) >iso/boot/initrd.cpio
cp kernel/vmlinuz iso/boot/
tun=glibc.cpu.hwcaps=-AVX2,-AVX512F,-AVX512VL,-AVX512BW,-EVEX,-AVX,-BMI2,-ERMS,-FSRM
cat >iso/boot/grub/grub.cfg <<GRUB
set timeout=0
serial --unit=0 --speed=115200
terminal_output serial
menuentry bertd {
  linux /boot/vmlinuz console=ttyS0,115200 rdinit=/init panic=-1 lpj=4000000 lsm=capability idle=halt nokaslr no5lvl mitigations=off tsc=reliable GLIBC_TUNABLES=$tun
  initrd /boot/initrd.cpio
}
GRUB
grub-mkrescue -o boot.iso iso >/dev/null 2>&1

# payload: the tests, the shared libraries they load, fixtures at the path compiled into them
rm -rf payload && mkdir -p payload/payload/t
tests="model_test_amx_hw"
[ $parity = 1 ] && tests="$tests model_parity_precision_int8 model_parity_precision_bf16"
for t in $tests; do cp "$build/tests/$t" payload/payload/t/ && strip --strip-debug payload/payload/t/$t; done
for t in payload/payload/t/*; do ldd "$t" | awk '/=>/ {print $3} /ld-linux/ {print $1}'; done | sort -u |
  while read -r l; do [ -f "$l" ] && mkdir -p "payload$(dirname "$l")" && cp -L "$l" "payload$l"; done
if [ $parity = 1 ]; then
  # the fixtures directory is compiled into the parity tests as an absolute path
  fixtures=$(strings -a "$build/tests/model_parity_precision_int8" | grep -m1 '/tests/fixtures$' || true)
  [ -n "$fixtures" ] || fixtures="$repo/tests/fixtures"
  mkdir -p "payload$fixtures" && cp -r "$fixtures/." "payload$fixtures/"
  : "${BERTD_MODEL_DIR:?--parity needs BERTD_MODEL_DIR (all-MiniLM-L6-v2)}"
  mkdir -p payload/payload/model
  cp "$BERTD_MODEL_DIR"/{vocab.txt,model.safetensors} "$BERTD_MODEL_DIR"/*.json payload/payload/model/
fi
cat >payload/payload/run <<RUN
#!/bin/busybox sh
mount -t tmpfs tmp /tmp; mkdir -p /dev/shm; mount -t tmpfs shm /dev/shm
echo "== cpu: \$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)"
echo "== flags: \$(grep -m1 flags /proc/cpuinfo | tr ' ' '\n' | grep -E '^(amx|avx512_bf16|avx512_vnni)' | tr '\n' ' ')"
export BERTD_MODEL_DIR=/payload/model
cd /payload/t
for t in $tests; do
  echo "== start \$t"; ./\$t --jobs 1 --verbose; echo "== end \$t rc=\$?"
done
poweroff -f
RUN
chmod +x payload/payload/run
(cd payload && tar cf ../payload.tar .) && truncate -s %2048 payload.tar

cat >bochsrc <<RC
memory: guest=2048, host=2048
cpu: model=sapphire_rapids, count=1, ips=20000000, reset_on_triple_fault=0
romimage: file=/usr/share/bochs/BIOS-bochs-latest
vgaromimage: file=/usr/share/vgabios/vgabios.bin
ata0-master: type=cdrom, path=boot.iso, status=inserted
ata0-slave: type=cdrom, path=payload.tar, status=inserted
boot: cdrom
com1: enabled=1, mode=file, dev=serial.out
display_library: nogui
log: bochs.log
clock: sync=none, time0=local
RC
rm -f serial.out
limit=$([ $parity = 1 ] && echo 36000 || echo 1800)
timeout "$limit" ./bochs/bochs -q -f bochsrc >bochs.out 2>&1 || true
tr -d '\r' <serial.out >guest.out # the guest's serial console ends lines with \r\n
sed -n '/^== cpu/,$p' guest.out | grep -v '^\s*$' | grep -v -E '^\[ *[0-9]+\.[0-9]+\]'
ran=$(grep -c '^== end ' guest.out || true)
# a skip (exit 77: no AMX granted in the guest) is a failure here: the tests must run
failed=$(grep '^== end ' guest.out | grep -v -c -E 'rc=0$' || true)
want=$(echo $tests | wc -w)
if [ "$ran" != "$want" ] || [ "$failed" != 0 ]; then
  echo "run.sh: $ran of $want tests finished, $failed failed (guest's console: $work/guest.out)"
  exit 1
fi
echo "run.sh: $ran of $want tests passed on the emulated CPU"
