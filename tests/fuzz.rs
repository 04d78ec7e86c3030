//! Fuzzing the experiment-file parser: thousands of seeded files, valid ones (mutations of the
//! bundled experiments) and broken ones (bad TOML, wrong types, extreme numbers, deep nesting,
//! huge grids), through `Plan::parse` (what `sweep plan` runs) and a few dozen through the
//! binary. No input may panic, and every rejection must name the file.
//!
//! `SWEEP_FUZZ_CASES` sets the number of cases (default 2000), `SWEEP_FUZZ_SEED` the seed;
//! `SWEEP_FUZZ_CASE=N` reruns the one parser case whose seed a failure printed.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::process::Command;

use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use sweep::spec::Plan;
use toml::{Table, Value};

/// `GOOD` of tests/spec.rs.
const GOOD: &str = r#"
[experiment]
name = "t"
seeds = [0, 1]

[source]
dataset = "mnist-10k"

[target]
dataset = "uci-digits"
labels_per_class = [5, 20]

[model]
backbone = "resnet-mini"

[transfer]
strategy = ["scratch", "linear-probe", "finetune"]
freeze_depth = [0, 1]
"#;

/// Every optional table and tagged value the schema has, so that mutations reach them.
const RICH: &str = r#"
[experiment]
name = "rich"
description = "every kind of setting"
seeds = [0, 1]
device = "cpu"

[source]
dataset = "mnist-10k"
limit = 300
eval_limit = 100
classes = [0, 1, 2]
crop = 24
epochs = 1
optimizer = "momentum"
weight_decay = 0.0001
seed = 3

[target]
dataset = "uci-digits"
labels_per_class = 3
classes = [[0, 1], [2, 3, 4]]
test_limit = 200
limit = 500

[model]
backbone = "resnet-mini"
width = 8
stages = 2
blocks = 1
dropout = 0.1
head = [{ kind = "mlp", hidden = [32, 16], activation = "gelu", dropout = 0.5 }, "linear"]
pool = ["avg", "flatten"]

[train]
epochs = 4
schedule = ["multi-step", "one-cycle", "step"]
milestones = [1, 3]
step_size = 2
gamma = 0.5
schedule_per = "step"
label_smoothing = 0.1
grad_clip = 1.0
warmup_epochs = 1
monitor = "val_loss"
augment = ["none", "all"]

[transfer]
strategy = "finetune"
freeze_depth = [1, 2]
bn = "train"
backbone_lr_mult = 0.1
layer_decay = 0.8
unfreeze_every = 2
unfreeze_warmup = false

[augment.sets]
all = [
  "flip", "vflip", "noise", "cutout",
  { op = "crop", padding = 2 },
  { op = "resized-crop", scale = [0.5, 1.0], ratio = [0.75, 1.33] },
  { op = "rotate", degrees = 10 },
  { op = "translate", fraction = 0.1 },
  { op = "jitter", brightness = 0.2, contrast = 0.2, saturation = 0.1 },
  { op = "erase", p = 0.5, scale = [0.02, 0.2], ratio = [0.3, 3.3] },
  { op = "cutmix", alpha = 1.0 },
  { op = "mixup", alpha = 0.2 },
]
"#;

/// Files whose plans are cheap to print (`sweep plan` builds each frozen backbone once).
const SMALL: &[&str] = &[include_str!("../experiments/quickstart.toml"), GOOD, RICH];

/// The rest of the bundled experiments.
const LARGE: &[&str] = &[
    include_str!("../experiments/recipes.toml"),
    include_str!("../experiments/seed-vgg16.toml"),
    include_str!("../experiments/seed-resnet18.toml"),
    include_str!("../experiments/resnet18-fashion.toml"),
    include_str!("../experiments/resnet18-pretrain.toml"),
];

/// Inputs that once broke the parser or are worth keeping whatever the generator does.
const REGRESSIONS: &[&str] = &[
    "",
    "\u{feff}",
    "[experiment]\nname = \"x\"\n[experiment]\nname = \"y\"",
    "[[target]]\ndataset = \"uci-digits\"\n[[target]]\ndataset = \"mnist-10k\"",
];

/// The start of [`big_grid`]'s files: a valid experiment up to its `[train]` table.
const GRID: &str = "[experiment]\nname = \"grid\"\n[target]\ndataset = \"uci-digits\"\n[model]\nbackbone = \"resnet-mini\"\n[train]\n";

/// Keys of the schema and some that are not, `|`-separated.
const KEYS: &str = "experiment|source|target|model|train|transfer|augment|sets|name|description|seeds|\
    device|dataset|limit|eval_limit|classes|crop|epochs|optimizer|lr|weight_decay|\
    batch_size|seed|labels_per_class|val_fraction|test_limit|backbone|width|stages|blocks|\
    input_size|weights|sha256|allow_partial|dropout|head|pool|kind|hidden|activation|\
    patience|monitor|schedule|warmup_epochs|step_size|gamma|milestones|schedule_per|\
    label_smoothing|grad_clip|strategy|freeze_depth|backbone_lr_mult|bn|layer_decay|\
    unfreeze_every|unfreeze_warmup|op|p|padding|degrees|scale|ratio|fraction|brightness|\
    contrast|saturation|std|size|alpha|x|| |ключ|a.b|1|true";

/// Strings the schema knows and some it does not, `|`-separated.
const WORDS: &str = "| |uci-digits|mnist-10k|fashion-mnist|resnet-mini|resnet18|resnet50|vgg11_bn|vgg16_bn|\
    alexnet|densenet121|efficientnet_b0|mobilenet_v2|scratch|linear-probe|finetune|sgd|\
    momentum|nesterov|rmsprop|adam|adamw|constant|step|multi-step|cosine|one-cycle|epoch|\
    val_accuracy|val_loss|avg|flatten|frozen|train|linear|mlp|relu|gelu|tanh|none|light|\
    heavy|all|flip|vflip|crop|resized-crop|rotate|translate|jitter|noise|erase|cutout|mixup|\
    cutmix|cpu|cuda|cuda:0|cuda:x|vulkan:99999999999999999999|csv:no/such.csv|idx:no/such|\
    idx:nosuchprefix|folder:no/such|cifar10:|https://example.com/w.safetensors|\
    http://localhost:1/w.pt|http://example.com/w.pt|no-such.safetensors|Cargo.toml|ünïcødé|\
    名前|🚀🚀|\u{202e}rtl|a\"b|back\\slash|new\nline|tab\t|nul\u{0}|-|.|..|x y|cache|0|1e308";

fn pick<'a>(rng: &mut StdRng, items: &[&'a str]) -> &'a str {
    items.choose(rng).expect("non-empty")
}

/// One item of a `|`-separated list.
fn word(rng: &mut StdRng, list: &'static str) -> &'static str {
    pick(rng, &list.split('|').collect::<Vec<_>>())
}

fn float(rng: &mut StdRng) -> f64 {
    const SPECIAL: &str = "0|-0|1e308|-1e308|1e-308|5e-324|NaN|inf|-inf|1.7976931348623157e308|\
        2.2250738585072014e-308|0.5|1|0.999999999|1e-3|0.9|180|-1";
    if rng.random_bool(0.6) {
        word(rng, SPECIAL).parse().expect("a float")
    } else {
        rng.random_range(-2.0..2.0)
    }
}

fn int(rng: &mut StdRng) -> i64 {
    const SPECIAL: &str = "0|1|-1|2|3|4|5|16|255|256|512|513|1024|65536|100001|9223372036854775807|\
        -9223372036854775808|4611686018427387903|4294967295";
    if rng.random_bool(0.7) {
        word(rng, SPECIAL).parse().expect("an integer")
    } else {
        rng.random_range(-10..40)
    }
}

fn string(rng: &mut StdRng) -> String {
    match rng.random_range(0..10) {
        0 => "x".repeat(rng.random_range(1_000..100_000)),
        1 => (0..rng.random_range(0..40))
            .map(|_| char::from_u32(rng.random_range(0..0x11_0000)).unwrap_or('\u{fffd}'))
            .collect(),
        _ => word(rng, WORDS).to_string(),
    }
}

/// A random TOML value; `depth` bounds its nesting.
fn value(rng: &mut StdRng, depth: u32) -> Value {
    let nested = depth > 0;
    match rng.random_range(0..if nested { 9 } else { 6 }) {
        0 | 1 => Value::Integer(int(rng)),
        2 => Value::Float(float(rng)),
        3 | 4 => Value::String(string(rng)),
        5 => match rng.random_range(0..2) {
            0 => Value::Boolean(rng.random()),
            _ => Value::Datetime("1979-05-27T07:32:00Z".parse().expect("datetime")),
        },
        6 | 7 => Value::Array(
            (0..rng.random_range(0..5))
                .map(|_| value(rng, depth - 1))
                .collect(),
        ),
        _ => Value::Table(
            (0..rng.random_range(0..4))
                .map(|_| (word(rng, KEYS).to_string(), value(rng, depth - 1)))
                .collect(),
        ),
    }
}

/// Nests a value `levels` times in arrays or tables.
fn deep(rng: &mut StdRng, levels: usize) -> Value {
    let mut v = value(rng, 0);
    for _ in 0..levels {
        v = if rng.random_bool(0.5) {
            Value::Array(vec![v])
        } else {
            Value::Table(Table::from_iter([(word(rng, KEYS).to_string(), v)]))
        };
    }
    v
}

/// Every key path of a document, through tables only.
fn paths(table: &Table, prefix: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    for (k, v) in table {
        prefix.push(k.clone());
        out.push(prefix.clone());
        if let Value::Table(t) = v {
            paths(t, prefix, out);
        }
        prefix.pop();
    }
}

fn table_at<'a>(table: &'a mut Table, path: &[String]) -> Option<&'a mut Table> {
    match path.split_first() {
        None => Some(table),
        Some((first, rest)) => match table.get_mut(first)? {
            Value::Table(t) => table_at(t, rest),
            _ => None,
        },
    }
}

/// A mutation of the document: usually still valid TOML, often no longer a valid experiment.
fn mutate_document(rng: &mut StdRng, doc: &mut Table) {
    let mut all = Vec::new();
    paths(doc, &mut Vec::new(), &mut all);
    let Some(path) = all.choose(rng).cloned() else {
        doc.insert(word(rng, KEYS).into(), value(rng, 2));
        return;
    };
    let (last, parent) = path.split_last().expect("non-empty path");
    let Some(parent) = table_at(doc, parent) else {
        return;
    };
    let old = parent.get(last).cloned().unwrap_or(Value::Boolean(true));
    let new = match rng.random_range(0..10) {
        0 => {
            parent.remove(last);
            return;
        }
        1 => {
            let depth = rng.random_range(0..3);
            parent.insert(word(rng, KEYS).into(), value(rng, depth));
            return;
        }
        // A list: a grid axis (or, for a table, an array of tables).
        2 => Value::Array(
            (0..rng.random_range(0..5))
                .map(|_| {
                    if rng.random_bool(0.5) {
                        old.clone()
                    } else {
                        value(rng, 1)
                    }
                })
                .collect(),
        ),
        3 => {
            let levels = rng.random_range(1..120);
            deep(rng, levels)
        }
        4 => match old {
            // A table where a value belongs, or a value where a table belongs.
            Value::Table(_) => value(rng, 0),
            v => Value::Table(Table::from_iter([(word(rng, KEYS).to_string(), v)])),
        },
        5..=7 => same_kind(rng, &old),
        _ => value(rng, 1),
    };
    parent.insert(last.clone(), new);
}

/// Another value of the same type, so that the file gets past deserialization to validation.
fn same_kind(rng: &mut StdRng, old: &Value) -> Value {
    match old {
        Value::Integer(_) => Value::Integer(int(rng)),
        Value::Float(_) => Value::Float(float(rng)),
        Value::String(_) => Value::String(string(rng)),
        Value::Boolean(b) => Value::Boolean(!b),
        Value::Array(items) if !items.is_empty() => {
            let mut items = items.clone();
            let i = rng.random_range(0..items.len());
            items[i] = same_kind(rng, &items[i]);
            Value::Array(items)
        }
        Value::Table(t) if !t.is_empty() => {
            let mut t = t.clone();
            let key = t.keys().nth(rng.random_range(0..t.len())).cloned();
            if let Some(key) = key {
                let v = same_kind(rng, &t[&key]);
                t.insert(key, v);
            }
            Value::Table(t)
        }
        _ => value(rng, 1),
    }
}

/// A mutation of the text: often no longer TOML at all.
fn mutate_text(rng: &mut StdRng, text: &mut String) {
    let boundary = |rng: &mut StdRng, t: &str| -> usize {
        let mut i = rng.random_range(0..=t.len());
        while !t.is_char_boundary(i) {
            i -= 1;
        }
        i
    };
    let lines: Vec<String> = text.lines().map(String::from).collect();
    match rng.random_range(0..9) {
        0 => {
            let a = boundary(rng, text);
            let mut b = (a + rng.random_range(0..40)).min(text.len());
            while !text.is_char_boundary(b) {
                b -= 1;
            }
            text.replace_range(a..b, "");
        }
        // Duplicate keys or tables.
        1 if !lines.is_empty() => {
            let i = rng.random_range(0..lines.len());
            let at = rng.random_range(0..=lines.len());
            let mut lines = lines;
            lines.insert(at, lines[i].clone());
            *text = lines.join("\n");
        }
        2 => text.truncate(boundary(rng, text)),
        3 => {
            let i = boundary(rng, text);
            const SNIPPETS: &str = "[[target]]\n|[target]\n|\n[experiment.name]\n|a.b.c = 1\n|= 1\n|[|]]|\
                \"|'''|\"\"\"|=|,|{|}|#|\n|\r\n|\r|\t|\u{0}|\u{7}|\u{feff}|\\|\
                \\u{d800}|\\uD800|é|🚀|1e308|-0.0|nan|-inf|9223372036854775807|\
                9223372036854775808|-9223372036854775809|0x7fffffffffffffff|0b2|1__0|\
                1979-05-27|x = 1979-05-27T07:32:00Z\n|seeds = []\n|seeds = [[]]\n";
            text.insert_str(i, word(rng, SNIPPETS));
        }
        // Replace a number with an extreme one.
        4 => {
            let starts: Vec<usize> = text
                .char_indices()
                .filter(|(_, c)| c.is_ascii_digit())
                .map(|(i, _)| i)
                .collect();
            if let Some(&s) = starts.choose(rng) {
                let end = text[s..]
                    .find(|c: char| !(c.is_ascii_alphanumeric() || ".+-_".contains(c)))
                    .map_or(text.len(), |e| s + e);
                const EXTREMES: &str = "1e308|-1e308|1e309|5e-324|-0.0|+0.0|nan|+inf|-inf|9223372036854775807|\
                    -9223372036854775808|18446744073709551616|0|-1|-0|1.5|0.0|1_000_000|\
                    0o777|0xff|\"3\"|true|[]|{}|[1, 2]";
                text.replace_range(s..end, word(rng, EXTREMES));
            }
        }
        // Replace a string's content.
        5 => {
            if let Some(open) = text
                .match_indices('"')
                .map(|(i, _)| i)
                .collect::<Vec<_>>()
                .choose(rng)
                && let Some(len) = text[open + 1..].find('"')
            {
                let s = string(rng)
                    .replace('\\', "\\\\")
                    .replace('"', "\\\"")
                    .replace('\n', "\\n");
                text.replace_range(open + 1..open + 1 + len, &s);
            }
        }
        6 if lines.len() > 1 => {
            let mut lines = lines;
            let (a, b) = (
                rng.random_range(0..lines.len()),
                rng.random_range(0..lines.len()),
            );
            lines.swap(a, b);
            *text = lines.join("\n");
        }
        // Deep nesting, which the TOML parser refuses past a limit.
        7 => {
            let n = rng.random_range(1..300);
            let (open, close) = if rng.random_bool(0.5) {
                ("[", "]")
            } else {
                ("{a=", "}")
            };
            let line = format!("\nx = {}1{}\n", open.repeat(n), close.repeat(n));
            text.insert_str(boundary(rng, text), &line);
        }
        _ => {
            let i = boundary(rng, text);
            let c = char::from_u32(rng.random_range(0..0x11_0000)).unwrap_or('?');
            text.insert(i, c);
        }
    }
}

/// A file with `axes` list-valued settings of `values` values each.
fn big_grid(rng: &mut StdRng) -> String {
    let axes = rng.random_range(1..80);
    let values = rng.random_range(1..12);
    let mut text = String::from(GRID);
    for k in 0..axes {
        // Unknown keys: cheap to expand, and rejected if the grid is small enough to build.
        let list: Vec<String> = (0..values).map(|v| v.to_string()).collect();
        text.push_str(&format!("k{k} = [{}]\n", list.join(", ")));
    }
    text
}

/// Noise from the characters TOML gives meaning to.
fn noise(rng: &mut StdRng) -> String {
    const ALPHABET: &str = "[]{}=,.\"'#\n ab12-_+e:trun\\é\u{0}";
    let alphabet: Vec<char> = ALPHABET.chars().collect();
    (0..rng.random_range(0..300))
        .map(|_| *alphabet.choose(rng).expect("non-empty"))
        .collect()
}

/// One fuzz case, from its own seed.
fn case(seed: u64, bases: &[&str]) -> String {
    let rng = &mut StdRng::seed_from_u64(seed);
    let base = pick(rng, bases);
    let mut text = match rng.random_range(0..20) {
        0 => return base.to_string(),
        1 => return big_grid(rng),
        2 => return noise(rng),
        3..=11 => {
            let mut doc: Table = toml::from_str(base).expect("the bundled files parse");
            for _ in 0..rng.random_range(1..4) {
                mutate_document(rng, &mut doc);
            }
            match toml::to_string(&doc) {
                Ok(text) => text,
                Err(_) => base.to_string(),
            }
        }
        _ => base.to_string(),
    };
    for _ in 0..rng.random_range(0..3) {
        mutate_text(rng, &mut text);
    }
    text
}

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Fails the test with everything needed to reproduce the case, the text saved to a file too.
fn fail(seed: u64, text: &str, what: &str) -> ! {
    let saved = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("fuzz-{seed}.toml"));
    let _ = std::fs::write(&saved, text);
    let start: String = text.chars().take(3000).collect();
    panic!(
        "{what}\ncase seed {seed}, saved as {}; its start, escaped:\n{start:?}",
        saved.display()
    );
}

/// Parses like `sweep plan` does; checks that it does not panic and that a rejection names the
/// file and points inside it.
fn check(seed: u64, text: &str) -> bool {
    let result = catch_unwind(AssertUnwindSafe(|| {
        Plan::parse(Path::new("fuzz.toml"), text, sweep::task::rules)
            .map_err(|e| (e.to_string(), e.position))
    }));
    match result {
        Err(panic) => {
            let msg = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            fail(seed, text, &format!("Plan::parse panicked: {msg}"))
        }
        Ok(Ok(plan)) => {
            if plan.runs.is_empty() {
                fail(seed, text, "accepted with no runs");
            }
            true
        }
        Ok(Err((message, position))) => {
            let lines = text.split('\n').count();
            let outside = position.is_some_and(|(l, c)| l == 0 || c == 0 || l > lines);
            if !message.starts_with("fuzz.toml:") || outside {
                let what = "the message must start with the file and a position inside it";
                fail(seed, text, &format!("{what}:\n{message}"));
            }
            false
        }
    }
}

#[test]
fn no_experiment_file_panics_the_parser_and_every_rejection_names_the_file() {
    let bases: Vec<&str> = SMALL.iter().chain(LARGE).copied().collect();
    if let Ok(one) = std::env::var("SWEEP_FUZZ_CASE") {
        let one = one.parse().expect("SWEEP_FUZZ_CASE is a case seed");
        check(one, &case(one, &bases));
        return;
    }
    let cases = env("SWEEP_FUZZ_CASES", 2000);
    let seed = env("SWEEP_FUZZ_SEED", 17);
    println!("fuzz: {cases} cases from seed {seed} (SWEEP_FUZZ_CASES, SWEEP_FUZZ_SEED)");
    for text in REGRESSIONS {
        check(0, text);
    }
    // 64 axes of 2 values: the grid's size overflows a usize.
    let axes: String = (0..64).map(|k| format!("k{k} = [0, 1]\n")).collect();
    check(0, &format!("{GRID}{axes}"));
    // An error past column 65535: the caret line's padding once overflowed a format width.
    check(0, &format!("x = \"{}\" y", "x".repeat(70_000)));

    let start = std::time::Instant::now();
    let (mut accepted, mut slowest) = (0, (0.0, 0));
    for i in 0..cases {
        let case_seed = seed.wrapping_mul(1_000_003).wrapping_add(i);
        let text = case(case_seed, &bases);
        let t = std::time::Instant::now();
        accepted += usize::from(check(case_seed, &text));
        let secs = t.elapsed().as_secs_f64();
        if secs > slowest.0 {
            slowest = (secs, case_seed);
        }
    }
    println!(
        "fuzz: {cases} cases in {:.1}s, {accepted} accepted, {} rejected; slowest {:.3}s (case seed {})",
        start.elapsed().as_secs_f64(),
        cases as usize - accepted,
        slowest.0,
        slowest.1
    );
    // The generator must keep producing both kinds, or it has stopped testing half the parser.
    let n = cases as usize;
    if n >= 500 {
        assert!(
            accepted * 50 > n && accepted * 2 < n,
            "{accepted} of {n} accepted"
        );
    }
}

#[test]
fn sweep_plan_exits_0_or_2_on_fuzzed_files_and_names_the_file() {
    let seed = env("SWEEP_FUZZ_SEED", 17) ^ 0xB1_0000;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("fuzz.toml");
    let (mut codes, mut accepted) = (std::collections::BTreeMap::new(), 0);
    for i in 0..40 {
        let case_seed = seed.wrapping_add(i);
        let text = case(case_seed, SMALL);
        std::fs::write(&file, &text).unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_sweep"))
            .arg("plan")
            .arg(&file)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        match out.status.code() {
            Some(0) => accepted += 1,
            Some(2) if stderr.contains(&format!("error: {}", file.display())) => {}
            code => fail(
                case_seed,
                &text,
                &format!("`sweep plan` exited with {code:?}:\n{stderr}"),
            ),
        }
        *codes.entry(out.status.code()).or_insert(0) += 1;
    }
    println!("sweep plan exit codes: {codes:?}");
    assert!(accepted > 0, "some fuzzed files are valid: {codes:?}");
}
