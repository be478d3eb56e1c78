SUMMARY = "A Raspberry Pi Stratum-1 time server: stratum1 on a minimal systemd image"
LICENSE = "MIT"

inherit core-image

IMAGE_FEATURES += "ssh-server-dropbear"
IMAGE_INSTALL:append = " stratum1 kernel-module-pps-gpio pps-tools"

# The PL011 UART for the receiver, Bluetooth off it, no console on it, and the PPS overlay on
# the HAT's pin (GPIO 4 for Adafruit, 18 for Uputronics).
ENABLE_UART = "1"
SERIAL_CONSOLES = ""
STRATUM1_PPS_GPIO ??= "${@ '18' if d.getVar('STRATUM1_HAT') == 'uputronics-ublox' else '4'}"
RPI_EXTRA_CONFIG = "\n\
dtoverlay=disable-bt\n\
dtoverlay=pps-gpio,gpiopin=${STRATUM1_PPS_GPIO}\n\
"
DISABLE_RPI_BOOT_LOGO = "1"
