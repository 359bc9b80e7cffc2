#!/usr/bin/env bash
# Provisioning of the lab box: p4c and bmv2 from the p4lang project's packages
# (openSUSE Build Service, as their READMEs say), Open vSwitch from Ubuntu, and
# the project's own set-up, which then runs the packet tests on every target and the
# lab's demo (Cloud Rack's migrations) on bmv2 and on Open vSwitch.
set -euo pipefail

project="${1:-/home/vagrant/vm-mobility}"
export DEBIAN_FRONTEND=noninteractive

# shellcheck source=/dev/null
. /etc/os-release
repo="https://download.opensuse.org/repositories/home:/p4lang/xUbuntu_${VERSION_ID}/"

if ! command -v simple_switch_grpc >/dev/null || ! command -v p4c-bm2-ss >/dev/null; then
    apt-get update -qq
    apt-get install -y -qq curl gnupg ca-certificates
    echo "deb ${repo} /" > /etc/apt/sources.list.d/home-p4lang.list
    curl -fsSL "${repo}Release.key" | gpg --dearmor > /etc/apt/trusted.gpg.d/home_p4lang.gpg
    apt-get update -qq
    apt-get install -y -qq p4lang-p4c p4lang-bmv2
fi

apt-get install -y -qq openvswitch-switch python3-venv python3-dev gcc git

cd "$project"
# Recompile with the box's p4c: build/ must match what the committed sources give.
./run ctrl build --check || echo "note: build/ differs from the sources; run ./run ctrl build"
./run packets                       # mobility.p4's packet tests on bmv2 and Open vSwitch
./run demo --target bmv2 --out /home/vagrant/lab-demo-bmv2   # the lab on bmv2
./run demo --out /home/vagrant/lab-demo-ovs                  # and on Open vSwitch
