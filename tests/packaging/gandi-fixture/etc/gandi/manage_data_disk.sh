#!/bin/sh
echo "$(basename "$0") $*" >>/var/log/gandi-fixture.log
