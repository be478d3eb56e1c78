SUMMARY = "A Raspberry Pi Stratum-1 time server: stratum1 on a minimal systemd image"
LICENSE = "MIT"

inherit core-image

IMAGE_FEATURES += "ssh-server-dropbear"
# pps-tools (ppstest) is in meta-oe, not oe-core: add it with that layer.
IMAGE_INSTALL:append = " stratum1 kernel-module-pps-gpio"

# The UART and PPS settings are in conf/stratum1-rpi.conf, which local.conf must require:
# meta-raspberrypi's boot-file recipes do not see an image recipe's variables.
