//! Progress of a sweep: on a terminal, an overall bar with its ETA and one line per active run;
//! otherwise (a log file, Slurm, CI) plain lines, one per finished run with the count and ETA.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Nothing.
    Quiet,
    /// Plain lines on stderr.
    Plain,
    /// Bars redrawn in place on the terminal.
    Bars,
}

impl Mode {
    /// `Bars` when stderr is a terminal, else `Plain`; `Quiet` when asked.
    pub fn detect(quiet: bool) -> Mode {
        match (quiet, std::io::stderr().is_terminal()) {
            (true, _) => Mode::Quiet,
            (false, true) => Mode::Bars,
            (false, false) => Mode::Plain,
        }
    }
}

/// Progress display shared by the sweep's workers.
pub struct Progress {
    mode: Mode,
    multi: MultiProgress,
    overall: ProgressBar,
    total: usize,
    done: AtomicUsize,
    start: Instant,
}

/// The line of one active run (hidden unless bars are shown).
pub struct RunLine(ProgressBar);

impl RunLine {
    /// Replaces the line's text (epoch, metric).
    pub fn set(&self, text: String) {
        self.0.set_message(text);
    }
}

impl Progress {
    /// Progress over `total` runs.
    pub fn new(total: usize, mode: Mode) -> Progress {
        let target = match mode {
            Mode::Bars => ProgressDrawTarget::stderr(),
            _ => ProgressDrawTarget::hidden(),
        };
        let multi = MultiProgress::with_draw_target(target);
        let overall = multi.add(ProgressBar::new(total as u64));
        overall.set_style(
            ProgressStyle::with_template(
                "{bar:30} {pos}/{len} runs, {elapsed} elapsed, ETA {eta} {msg}",
            )
            .expect("valid template"),
        );
        overall.enable_steady_tick(Duration::from_millis(500));
        Progress {
            mode,
            multi,
            overall,
            total,
            done: AtomicUsize::new(0),
            start: Instant::now(),
        }
    }

    /// Prints a line (above the bars when they are shown).
    pub fn log(&self, line: String) {
        match self.mode {
            Mode::Quiet => {}
            Mode::Plain => eprintln!("{line}"),
            Mode::Bars => {
                // A failed redraw only loses a progress line, never a result.
                let _ = self.multi.println(line);
            }
        }
    }

    /// Adds the line of a run that starts now.
    pub fn start(&self, text: String) -> RunLine {
        let line = self.multi.add(ProgressBar::new_spinner());
        line.set_style(ProgressStyle::with_template("  {msg}").expect("valid template"));
        line.set_message(text);
        RunLine(line)
    }

    /// Removes a finished run's line, counts it and logs `summary` with the count (and, as plain
    /// lines, the time left).
    pub fn finish(&self, line: RunLine, summary: String) {
        line.0.finish_and_clear();
        self.multi.remove(&line.0);
        let done = self.done.fetch_add(1, Ordering::SeqCst) + 1;
        self.overall.inc(1);
        let eta = match self.mode {
            Mode::Plain if done < self.total => {
                let left =
                    self.start.elapsed().as_secs_f64() / done as f64 * (self.total - done) as f64;
                format!(
                    ", ETA {}",
                    indicatif::HumanDuration(Duration::from_secs_f64(left))
                )
            }
            _ => String::new(),
        };
        self.log(format!("[{done}/{}{eta}] {summary}", self.total));
    }

    /// Ends a run's line without counting the run as done (another process finishes it).
    pub fn abandon(&self, line: RunLine, message: String) {
        line.0.finish_and_clear();
        self.multi.remove(&line.0);
        self.log(message);
    }

    /// Removes every bar from the terminal.
    pub fn clear(&self) {
        self.overall.finish_and_clear();
        let _ = self.multi.clear();
    }
}
