//! The HTML report of the drill runbook, rendered by a real headless Chromium: the page must
//! load from a `file://` URL with networking off and draw the DAG in its outcome colours.
//!
//! The screenshot is kept at `target/screenshots/dr-drill-report.png` (and the page beside it)
//! for people to look at; `tests/screenshot/report.sh` runs this test and prints the paths.
//! Without Chromium the test says so and passes, unless `DRBOOK_REQUIRE_CHROMIUM` is set (CI
//! installs Debian's `chromium` and sets it). `DRBOOK_CHROMIUM` names the browser binary.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "in tests a panic is a test failure"
)]

mod report_support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use report_support::run_real_drill;

const WIDTH: u32 = 1400;
const HEIGHT: u32 = 1800;

/// The browser to use, if any.
fn chromium() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("DRBOOK_CHROMIUM") {
        return Some(PathBuf::from(path));
    }
    let path = std::env::var_os("PATH")?;
    [
        "chromium",
        "chromium-browser",
        "google-chrome",
        "google-chrome-stable",
    ]
    .iter()
    .flat_map(|name| std::env::split_paths(&path).map(move |dir| dir.join(name)))
    .find(|candidate| candidate.is_file())
}

/// Renders `page` to `png` and waits for Chromium to exit (killing it after two minutes, so a
/// wedged browser fails the test instead of hanging CI).
fn screenshot(browser: &Path, page: &Path, png: &Path, profile: &Path) {
    let mut child = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("--screenshot={}", png.display()))
        .arg(format!("--window-size={WIDTH},{HEIGHT}"))
        .arg(format!("file://{}", page.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", browser.display()));
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("{} did not finish within two minutes", browser.display());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success() && png.is_file(),
        "chromium failed ({}): {}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// An RGB(A) image read back from the PNG.
struct Image {
    width: u32,
    height: u32,
    /// RGB triples.
    pixels: Vec<[u8; 3]>,
}

fn decode(png_path: &Path) -> Image {
    let decoder = png::Decoder::new(std::io::BufReader::new(
        std::fs::File::open(png_path).unwrap(),
    ));
    let mut reader = decoder.read_info().unwrap();
    let mut buffer = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buffer).unwrap();
    assert_eq!(info.bit_depth, png::BitDepth::Eight, "{info:?}");
    let channels = match info.color_type {
        png::ColorType::Rgb => 3,
        png::ColorType::Rgba => 4,
        other => panic!("unexpected PNG colour type {other:?}"),
    };
    let pixels = buffer[..info.buffer_size()]
        .chunks_exact(channels)
        .map(|p| [p[0], p[1], p[2]])
        .collect();
    Image {
        width: info.width,
        height: info.height,
        pixels,
    }
}

/// Pixels within a small distance of `rgb` (anti-aliasing and colour management shift exact
/// values a little).
fn count_near(image: &Image, rgb: [u8; 3]) -> usize {
    image
        .pixels
        .iter()
        .filter(|p| {
            p.iter()
                .zip(rgb)
                .all(|(a, b)| (i16::from(*a) - i16::from(b)).abs() <= 6)
        })
        .count()
}

#[test]
fn the_drill_report_renders_in_headless_chromium() {
    let Some(browser) = chromium() else {
        assert!(
            std::env::var_os("DRBOOK_REQUIRE_CHROMIUM").is_none(),
            "DRBOOK_REQUIRE_CHROMIUM is set but no chromium was found (apt-get install -y chromium)"
        );
        eprintln!(
            "SKIPPED: no chromium on PATH (Debian: apt-get install -y chromium; or set DRBOOK_CHROMIUM)"
        );
        return;
    };
    let temp = tempfile::tempdir().unwrap();
    let data_dir = temp.path().join("data");
    let run_id = run_real_drill(&data_dir);

    let out_dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .unwrap()
        .join("screenshots");
    std::fs::create_dir_all(&out_dir).unwrap();
    let page = out_dir.join("dr-drill-report.html");
    let png = out_dir.join("dr-drill-report.png");
    let _ = std::fs::remove_file(&png);
    assert_cmd::cargo::cargo_bin_cmd!("drbook")
        .args(["report", &run_id, "--format", "html", "--out"])
        .arg(&page)
        .arg("--data-dir")
        .arg(&data_dir)
        .assert()
        .code(0);

    screenshot(&browser, &page, &png, &temp.path().join("profile"));

    let size = std::fs::metadata(&png).unwrap().len();
    let image = decode(&png);
    assert_eq!((image.width, image.height), (WIDTH, HEIGHT));
    // Not blank: a blank or error page is a few colours and compresses to almost nothing.
    let mut colours: Vec<[u8; 3]> = image.pixels.clone();
    colours.sort_unstable();
    colours.dedup();
    assert!(colours.len() > 200, "only {} colours", colours.len());
    assert!(size > 50_000, "the PNG is only {size} bytes");
    let background = count_near(&image, [0xf6, 0xf7, 0xf9]);
    assert!(
        background < image.pixels.len() * 9 / 10,
        "the page is mostly empty background"
    );
    // The DAG is drawn: every step of the approved drill succeeded, so its twelve boxes are
    // filled with the "succeeded" green (#bbf7d0). Each box is 184x62 at a scale near 1.
    let green = count_near(&image, [0xbb, 0xf7, 0xd0]);
    assert!(
        green > 12 * 5_000,
        "{green} green pixels: the DAG's succeeded boxes are missing"
    );
    // The header's rule and the title text are dark ink.
    let ink = count_near(&image, [0x11, 0x18, 0x27]);
    assert!(ink > 5_000, "{ink} dark pixels: no text");
    eprintln!(
        "screenshot of the dr-drill report ({size} bytes, {} colours, {green} DAG-green pixels): {}",
        colours.len(),
        png.display()
    );
}
