SUMMARY = "GNSS-disciplined Stratum-1 NTP/NTS time server"
DESCRIPTION = "Reads NMEA and PPS from a GNSS HAT, disciplines the clock, serves NTP and NTS, \
and shows its state on a status page."
LICENSE = "MIT | Apache-2.0"
LIC_FILES_CHKSUM = "file://Cargo.toml;beginline=6;endline=6;md5=${STRATUM1_LICENSE_LINE_MD5}"
# The license line of Cargo.toml; `md5sum` of that one line, set by whoever pins SRCREV.
STRATUM1_LICENSE_LINE_MD5 ??= ""

# Point these at your clone of the repository (no host name is written into this layer).
STRATUM1_GIT_URI ??= ""
# A fixed commit: the crates list below is frozen to that commit's Cargo.lock, so following
# the branch (AUTOREV) would build against crates the recipe does not fetch.
SRCREV ??= ""
SRC_URI = "${STRATUM1_GIT_URI};branch=main \
           file://stratum1d.service \
           file://60-stratum1.rules \
           file://stratum1.toml \
           file://hats/adafruit-ultimate-gps.toml \
           file://hats/uputronics-ublox.toml \
"
S = "${WORKDIR}/git"

# The crates registry your build fetches from (its host name), e.g. in local.conf.
STRATUM1_CRATE_REGISTRY ??= ""

# Which HAT the image is for: adafruit-ultimate-gps or uputronics-ublox.
STRATUM1_HAT ??= "adafruit-ultimate-gps"

inherit cargo cargo-update-recipe-crates systemd useradd

require ${BPN}-crates.inc

python () {
    for var in ("STRATUM1_GIT_URI", "SRCREV", "STRATUM1_CRATE_REGISTRY", "STRATUM1_LICENSE_LINE_MD5"):
        if not d.getVar(var):
            raise bb.parse.SkipRecipe("set %s (see meta-stratum1/README.md)" % var)
}

CARGO_BUILD_FLAGS += "--bin stratum1d --bin stratum1ctl"
# As the repository's .cargo/config.toml does for other builds (which RUSTFLAGS overrides):
# the ARMv8 AES and PMULL instructions where the processor has them (Pi 5), the crates'
# software where it has not (Pi 4), chosen at run time.
RUSTFLAGS:append:aarch64 = " --cfg aes_armv8 --cfg polyval_armv8"

USERADD_PACKAGES = "${PN}"
USERADD_PARAM:${PN} = "--system --home-dir /var/lib/stratum1 --no-create-home --shell /sbin/nologin --groups dialout stratum1"

SYSTEMD_SERVICE:${PN} = "stratum1d.service"
SYSTEMD_AUTO_ENABLE:${PN} = "enable"

do_install:append() {
    install -d ${D}${systemd_system_unitdir} ${D}${sysconfdir}/stratum1 ${D}${sysconfdir}/udev/rules.d
    install -m 0644 ${WORKDIR}/stratum1d.service ${D}${systemd_system_unitdir}/
    install -m 0644 ${WORKDIR}/60-stratum1.rules ${D}${sysconfdir}/udev/rules.d/
    cat ${WORKDIR}/stratum1.toml ${WORKDIR}/hats/${STRATUM1_HAT}.toml > ${D}${sysconfdir}/stratum1/stratum1.toml
    chmod 0644 ${D}${sysconfdir}/stratum1/stratum1.toml
    # The man pages go to ${PN}-doc, as mandir always does.
    for section in 1 5 8; do
        install -d ${D}${mandir}/man$section
        install -m 0644 ${S}/docs/man/*.$section ${D}${mandir}/man$section/
    done
}

FILES:${PN} += "${systemd_system_unitdir}/stratum1d.service ${sysconfdir}/udev/rules.d/60-stratum1.rules"
CONFFILES:${PN} = "${sysconfdir}/stratum1/stratum1.toml"
RCONFLICTS:${PN} = "chrony ntp ntpsec systemd-timesyncd"
