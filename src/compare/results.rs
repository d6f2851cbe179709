//! The results directory of a run, as the matrix and the scenarios both
//! write it: `OUT/NAME.csv`, `OUT/NAME.machine.txt`, `OUT/NAME.table.txt`
//! and so on, the table also on stdout, and a `wrote PATH` line for each
//! file at the end.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Where one run's files go: `dir/name` plus each file's suffix.
#[derive(Debug, Clone, Copy)]
pub struct Results<'a> {
    dir: &'a Path,
    name: &'a str,
}

impl<'a> Results<'a> {
    /// The results of run `name` in `dir`, which is created if needed.
    pub fn create(dir: &'a Path, name: &'a str) -> io::Result<Results<'a>> {
        std::fs::create_dir_all(dir).map_err(|err| {
            io::Error::new(
                err.kind(),
                format!("cannot create {}: {err}", dir.display()),
            )
        })?;
        Ok(Results { dir, name })
    }

    /// `dir/NAME{suffix}`, such as `results/compare.machine.txt` for
    /// `.machine.txt`.
    pub fn file(&self, suffix: &str) -> PathBuf {
        self.dir.join(format!("{}{suffix}", self.name))
    }

    /// Show `table` on `out` and keep it in `NAME.table.txt`; that path.
    pub fn write_table(&self, out: &mut dyn Write, table: &str) -> io::Result<PathBuf> {
        write!(out, "{table}")?;
        let path = self.file(".table.txt");
        std::fs::write(&path, table)?;
        Ok(path)
    }
}

/// After the table: a blank line, then `wrote PATH` for every file.
pub fn list_written<'p>(
    out: &mut dyn Write,
    paths: impl IntoIterator<Item = &'p PathBuf>,
) -> io::Result<()> {
    writeln!(out)?;
    for path in paths {
        writeln!(out, "wrote {}", path.display())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The directory is made, files are named after the run, and the
    /// table goes both to `out` and to its file.
    #[test]
    fn results_name_files_after_the_run_and_keep_the_table() {
        let dir = std::env::temp_dir().join(format!("sockbench-results-{}", std::process::id()));
        let results = Results::create(&dir, "smoke").unwrap();
        assert_eq!(results.file(".csv"), dir.join("smoke.csv"));
        let mut out = Vec::new();
        let table = results.write_table(&mut out, "a table\n").unwrap();
        assert_eq!(std::fs::read_to_string(&table).unwrap(), "a table\n");
        list_written(&mut out, [&table]).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            format!("a table\n\nwrote {}\n", table.display())
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
