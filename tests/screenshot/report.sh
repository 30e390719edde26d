#!/usr/bin/env bash
# Renders the HTML run report of the drill runbook in headless Chromium and prints where the
# screenshot is. The work is done by the test `tests/report_screenshot.rs` (which also checks the
# PNG: 1400x1800, not blank, the DAG's boxes in their outcome colours); this script makes it
# available to people and CI alike.
#
#   tests/screenshot/report.sh            # needs chromium (Debian: apt-get install -y chromium)
#   DRBOOK_CHROMIUM=/path/to/chrome tests/screenshot/report.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
if ! DRBOOK_REQUIRE_CHROMIUM=1 cargo test --quiet --test report_screenshot -- --nocapture >"$log" 2>&1; then
  cat "$log" >&2
  echo "the screenshot test failed" >&2
  exit 1
fi
grep -E "screenshot of" "$log"
png="target/screenshots/dr-drill-report.png"
echo "page:       target/screenshots/dr-drill-report.html"
echo "screenshot: $png"
