//! `atoll catalog list|search|show|import|check`: read the local catalog
//! (`<home>/catalog.db`) and import signed bundles into it by hand.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use atoll_catalog::{AppSummary, CatalogService, Provenance, SearchQuery, Sort};
use atoll_registry::bundle;
use clap::{Args, Subcommand, ValueEnum};
use serde::Serialize;

use super::output::{self, plain};

/// Catalog commands.
#[derive(Debug, Subcommand)]
pub enum CatalogCommand {
    /// List the apps this node knows.
    List {
        #[command(flatten)]
        filter: Filter,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Full-text search over name, description, categories and publisher name.
    Search {
        /// Words to look for (each must match, as a prefix).
        #[arg(required = true)]
        words: Vec<String>,
        #[command(flatten)]
        filter: Filter,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show one app: its head, trust, flags and every version seen with its sources.
    Show {
        /// `<did>/<app-id>`, or the app id alone when one publisher's app has it.
        app: String,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Verify a signed bundle (entry.json and the blobs beside it) and add it to the catalog.
    Import {
        /// Path of entry.json.
        entry: PathBuf,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Check the catalog file: SQLite integrity and the catalog's own invariants.
    Check {
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Filters and paging shared by `list` and `search`.
#[derive(Debug, Args)]
pub struct Filter {
    /// Only apps in this category.
    #[arg(long)]
    category: Option<String>,
    /// Only apps whose publisher's trust is at least this (0 to 1).
    #[arg(long, value_name = "SCORE")]
    min_trust: Option<f64>,
    /// Only installed apps.
    #[arg(long)]
    installed: bool,
    /// Hide stale apps (past their expiry).
    #[arg(long, conflicts_with = "stale")]
    fresh: bool,
    /// Only stale apps.
    #[arg(long)]
    stale: bool,
    /// Order of results [default: trust for list, relevance for search].
    #[arg(long, value_enum)]
    sort: Option<SortArg>,
    /// Results per page.
    #[arg(long, default_value_t = 50)]
    limit: u32,
    /// Results to skip.
    #[arg(long, default_value_t = 0)]
    offset: u32,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum SortArg {
    Trust,
    Recency,
    Name,
    Relevance,
}

impl Filter {
    fn query(&self, words: String, default: Sort) -> SearchQuery {
        SearchQuery {
            words,
            category: self.category.clone(),
            min_trust: self.min_trust,
            installed: self.installed.then_some(true),
            stale: if self.stale {
                Some(true)
            } else if self.fresh {
                Some(false)
            } else {
                None
            },
            sort: match self.sort {
                None => default,
                Some(SortArg::Trust) => Sort::Trust,
                Some(SortArg::Recency) => Sort::Recency,
                Some(SortArg::Name) => Sort::Name,
                Some(SortArg::Relevance) => Sort::Relevance,
            },
            offset: self.offset,
            limit: self.limit,
        }
    }
}

/// The catalog file in a home directory.
pub fn path(home: &Path) -> PathBuf {
    home.join("catalog.db")
}

/// Open the catalog in `home`, creating it if needed (for commands that write to it).
pub fn open(home: &Path) -> Result<CatalogService> {
    let p = path(home);
    CatalogService::open(&p).with_context(|| format!("opening the catalog {}", p.display()))
}

/// Open the catalog of an existing home for a command that only reads it: a missing home
/// or catalog is an error naming it, and nothing is created.
pub fn open_existing(home: &Path) -> Result<CatalogService> {
    let home = crate::home::existing(home)?;
    let p = path(home);
    if !p.is_file() {
        anyhow::bail!(
            "no catalog in {} (no {}): nothing has synced or been imported here yet; \
             `atoll node` creates it, as does `atoll catalog import <bundle>/entry.json`",
            home.display(),
            p.display()
        );
    }
    open(home)
}

#[derive(Serialize)]
struct ImportOut {
    app: String,
    version: String,
    sequence: u64,
    outcome: atoll_catalog::IngestOutcome,
    manifest: Option<atoll_catalog::Attached>,
}

/// Run a catalog command.
pub fn run(home: &Path, cmd: CatalogCommand) -> Result<()> {
    match cmd {
        CatalogCommand::List { filter, json } => {
            let query = filter.query(String::new(), Sort::Trust);
            let page = open_existing(home)?.read_blocking(move |c| c.search(&query))?;
            print_page(&page, json)
        }
        CatalogCommand::Search {
            words,
            filter,
            json,
        } => {
            let query = filter.query(words.join(" "), Sort::Relevance);
            let page = open_existing(home)?.read_blocking(move |c| c.search(&query))?;
            print_page(&page, json)
        }
        CatalogCommand::Show { app, json } => {
            let cat = open_existing(home)?;
            let app = super::resolve::via_catalog(&cat, &app, super::resolve::Scope::Catalog)?;
            let of = app.clone();
            let view = cat
                .read_blocking(move |c| c.app(&of))?
                .with_context(|| format!("{app} is not in the catalog"))?;
            if json {
                return output::json(&view);
            }
            let s = &view.summary;
            println!(
                "{} {}  ({})",
                plain(&s.name, 120),
                plain(&s.version, 40),
                s.app_ref
            );
            if !s.description.is_empty() {
                println!("  {}", plain(&s.description, 2000));
            }
            if !s.categories.is_empty() {
                println!("  categories: {}", plain(&s.categories.join(", "), 300));
            }
            println!(
                "  publisher:  {} — trust {:.2} (see `atoll trust explain {}`)",
                plain(s.publisher_name.as_deref().unwrap_or("(no profile)"), 120),
                s.trust,
                s.app_ref.publisher
            );
            println!(
                "  manifest:   {}{}",
                view.manifest,
                if view.manifest_attached {
                    ""
                } else {
                    " (not fetched yet)"
                }
            );
            println!("  status:     {}", flags(s).unwrap_or_else(|| "ok".into()));
            if let Some(v) = &s.installed_version {
                println!(
                    "  installed:  {}{}",
                    plain(v, 40),
                    if *v == s.version {
                        " (the latest)".to_owned()
                    } else {
                        format!(" ({} is the latest)", plain(&s.version, 40))
                    }
                );
            }
            println!("  versions seen:");
            for e in &view.entries {
                let sources: Vec<String> = e
                    .sources
                    .iter()
                    .map(|s| plain(&s.to_string(), 200))
                    .collect();
                println!(
                    "    seq {:<14} {:<10} {:<10}{}{}  from {}",
                    e.sequence,
                    plain(&e.version, 40),
                    e.status,
                    if e.from_origin { " origin" } else { "" },
                    e.yanked
                        .as_ref()
                        .map(|r| format!(" yanked: {}", plain(r, 200)))
                        .unwrap_or_default(),
                    sources.join(", ")
                );
            }
            Ok(())
        }
        CatalogCommand::Import { entry, json } => {
            let verified = bundle::verify_bundle(&entry)?;
            let catalog = open(home)?;
            let provenance = Provenance::Local(entry.display().to_string());
            let (signed, manifest) = (verified.entry.clone(), verified.manifest.clone());
            let (outcome, manifest) = catalog.write_blocking(move |c| {
                let outcome = c.ingest(&signed, &provenance)?;
                // The manifest counts only if the entry it belongs to was stored.
                let manifest = if outcome.is_head()
                    || matches!(outcome, atoll_catalog::IngestOutcome::Duplicate { .. })
                {
                    Some(c.attach_manifest(&manifest)?)
                } else {
                    None
                };
                Ok((outcome, manifest))
            })?;
            let out = ImportOut {
                app: verified.entry.app_ref().to_string(),
                version: verified.entry.version.to_string(),
                sequence: verified.entry.sequence,
                outcome,
                manifest,
            };
            if json {
                return output::json(&out);
            }
            println!(
                "{}: {} {} (sequence {})",
                out.outcome.name(),
                out.app,
                out.version,
                out.sequence
            );
            match &out.outcome {
                atoll_catalog::IngestOutcome::Rollback { current, .. } => {
                    println!("  refused: the catalog already holds sequence {current} (recorded in the audit log)")
                }
                atoll_catalog::IngestOutcome::Equivocation { .. } => {
                    println!("  the publisher signed a different entry with this sequence; flagged and penalised")
                }
                atoll_catalog::IngestOutcome::Stale { .. } => {
                    println!("  past its expiry: listed as stale, never auto-installed")
                }
                _ => {}
            }
            Ok(())
        }
        CatalogCommand::Check { json } => {
            let report = open_existing(home)?.read_blocking(|c| c.check())?;
            if json {
                return output::json(&report);
            }
            println!(
                "catalog ok: {} apps, {} entries, {} publishers",
                report.apps, report.entries, report.publishers
            );
            Ok(())
        }
    }
}

fn flags(s: &AppSummary) -> Option<String> {
    let mut f = Vec::new();
    if s.installed {
        f.push("installed");
    }
    if s.stale {
        f.push("stale");
    }
    if s.yanked {
        f.push("yanked");
    }
    if s.equivocated {
        f.push("equivocated");
    }
    (!f.is_empty()).then(|| f.join(","))
}

fn print_page(page: &atoll_catalog::SearchPage, json: bool) -> Result<()> {
    if json {
        return output::json(page);
    }
    if page.items.is_empty() {
        println!("no apps found (import one with `atoll catalog import <bundle>/entry.json`)");
        return Ok(());
    }
    let width = page
        .items
        .iter()
        .map(|i| i.name.chars().count())
        .max()
        .unwrap_or(4)
        .min(32);
    // LATEST: the publisher's newest version; INSTALLED: the one that runs here.
    println!(
        "{:width$}  {:<10} {:<10} {:>5}  {:<12} APP",
        "NAME", "LATEST", "INSTALLED", "TRUST", "FLAGS"
    );
    for i in &page.items {
        let name = plain(&i.name, 32);
        println!(
            "{name:width$}  {:<10} {:<10} {:>5.2}  {:<12} {}",
            plain(&i.version, 20),
            plain(i.installed_version.as_deref().unwrap_or("-"), 20),
            i.trust,
            flags(i).unwrap_or_default(),
            i.app_ref
        );
    }
    if page.has_more {
        println!("(more: use --offset)");
    }
    Ok(())
}
