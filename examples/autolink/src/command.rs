//! `/autolink`: list, add, change, test and remove links from the chat.
//! Every answer is ephemeral text, as in the Go plugin.

use mattermost_plugin::prelude::*;
use mattermost_plugin::proto;

use crate::config::Config;
use crate::link::Autolink as Link;
use crate::plugin::is_authorized_admin;

const TRIGGER: &str = "/autolink";

const HELP: &str = "###### Mattermost Autolink Plugin Administration
<linkref> is either the Name of a link, or its number in the `/autolink list` output. A partial Name can be specified, but some commands require it to be uniquely resolved.
* `/autolink add <name>` - add a new link, named <name>.
* `/autolink delete <linkref>` - delete a link.
* `/autolink disable <linkref>` - disable a link.
* `/autolink enable <linkref>` - enable a link.
* `/autolink list <linkref>` - list a specific link.
* `/autolink list <field> value` - list links whose <field> contains value. Here <field> can be Template or Pattern
* `/autolink list` - list all configured links.
* `/autolink set <linkref> <field> value...` - sets a link's field to a value. The entire command line after <field> is used for the value, unescaped, leading/trailing whitespace trimmed.
* `/autolink test <linkref> test-text...` - test a link on a sample.

Example:
```
/autolink add Visa
/autolink disable Visa
/autolink set Visa Pattern (?P<VISA>(?P<part1>4\\d{3})[ -]?(?P<part2>\\d{4})[ -]?(?P<part3>\\d{4})[ -]?(?P<LastFour>[0-9]{4}))
/autolink set Visa Template VISA XXXX-XXXX-XXXX-$LastFour
/autolink set Visa WordMatch true
/autolink set Visa Scope team/townsquare
/autolink set Visa ProcessBotPosts true
/autolink test Visa 4356-7891-2345-1111 -- (4111222233334444)
/autolink enable Visa
```
";

/// The fields `/autolink set` changes.
const FIELDS: [&str; 9] = [
    "Name",
    "Disabled",
    "Pattern",
    "Template",
    "Scope",
    "DisableNonWordPrefix",
    "DisableNonWordSuffix",
    "WordMatch",
    "ProcessBotPosts",
];

/// The command as it is registered. The contract carries no autocomplete
/// tree (Go's `AutocompleteData`), so the subcommands are in the hint only.
pub fn definition() -> proto::Command {
    proto::Command::new("autolink")
        .described("Autolink", "Autolink administration.")
        .autocomplete("Available commands: add, delete, disable, enable, list, set, test", "[command]")
}

/// Runs one `/autolink` line, answering with the text to show its user.
pub async fn execute(cx: &Context, current: &Current<Config>, args: &proto::CommandArgs) -> String {
    let conf = current.get();
    match is_authorized_admin(cx, &conf, &args.user_id).await {
        Err(e) => return format!("error occurred while authorizing the command: {e}"),
        Ok(false) => {
            return "`/autolink` commands can only be executed by a system administrator or `autolink` plugin admins."
                .into();
        }
        Ok(true) => {}
    }
    let words: Vec<&str> = args.command.split_whitespace().collect();
    let line = Line { command: &args.command, words: words.get(1..).unwrap_or_default() };
    if words.first() != Some(&TRIGGER) {
        return HELP.into();
    }
    let answer = match line.words.first().copied() {
        Some("list") => list(&conf, line.rest()),
        Some("delete") => delete(cx, current, line.rest()).await,
        Some("disable") => enable(cx, current, line.rest(), false).await,
        Some("enable") => enable(cx, current, line.rest(), true).await,
        Some("add") => add(cx, current, line.rest()).await,
        Some("set") => set(cx, current, line.rest()).await,
        Some("test") => test(&conf, line.rest()),
        _ => Ok(HELP.into()),
    };
    answer.unwrap_or_else(|e| e)
}

/// A command line and its words after `/autolink`.
#[derive(Clone, Copy)]
struct Line<'a> {
    command: &'a str,
    words: &'a [&'a str],
}

impl<'a> Line<'a> {
    /// The words after the first.
    fn rest(self) -> Self {
        Self { words: self.words.get(1..).unwrap_or_default(), ..self }
    }

    /// The command line after `/autolink` and the first `n` of these words,
    /// trimmed: a value with its own spacing kept.
    fn after(self, n: usize) -> &'a str {
        let mut rest = self.command.get(TRIGGER.len()..).unwrap_or_default();
        for word in &self.words[..n] {
            rest = rest.find(word).map_or("", |at| &rest[at + word.len()..]);
        }
        rest.trim()
    }
}

/// What an answer is made of: the text, or the text of what went wrong.
type Answer = Result<String, String>;

fn list(conf: &Config, line: Line<'_>) -> Answer {
    let (links, refs) = match line.words.first() {
        Some(&field @ ("Template" | "Pattern")) => by_field(conf, field, line)?,
        _ => find(conf, false, line.words)?,
    };
    if !refs.is_empty() {
        return Ok(refs.iter().map(|&i| links[i].to_markdown(i + 1)).collect());
    }
    if links.is_empty() {
        return Ok("There are no links to list".into());
    }
    Ok(links.iter().enumerate().map(|(i, l)| l.to_markdown(i + 1)).collect())
}

async fn delete(cx: &Context, current: &Current<Config>, line: Line<'_>) -> Answer {
    if line.words.len() != 1 {
        return Ok(HELP.into());
    }
    let (mut links, refs) = find(&current.get(), true, line.words)?;
    let removed = links.remove(refs[0]);
    save(cx, current, links).await?;
    Ok(format!("removed: \n{}", removed.to_markdown(0)))
}

async fn enable(cx: &Context, current: &Current<Config>, line: Line<'_>, enabled: bool) -> Answer {
    if line.words.len() != 1 {
        return Ok(HELP.into());
    }
    let (mut links, refs) = find(&current.get(), true, line.words)?;
    links[refs[0]].disabled = !enabled;
    let name = links[refs[0]].name.clone();
    save(cx, current, links).await?;
    list(&current.get(), Line { command: "", words: &[if name.is_empty() { line.words[0] } else { &name }] })
}

async fn add(cx: &Context, current: &Current<Config>, line: Line<'_>) -> Answer {
    if line.words.len() > 1 {
        return Ok(HELP.into());
    }
    let name = line.words.first().copied().unwrap_or_default();
    let mut links = current.get().links.clone();
    links.push(Link { name: name.to_owned(), ..Link::default() });
    save(cx, current, links).await?;
    list(&current.get(), Line { command: "", words: if name.is_empty() { &[] } else { line.words } })
}

async fn set(cx: &Context, current: &Current<Config>, line: Line<'_>) -> Answer {
    if line.words.len() < 3 {
        return Ok(HELP.into());
    }
    let (mut links, refs) = find(&current.get(), true, line.words)?;
    let link = &mut links[refs[0]];
    let value = line.after(2);
    let flag = || parse_bool(value);
    match line.words[1] {
        "Name" => link.name = value.to_owned(),
        "Pattern" => link.pattern = value.to_owned(),
        "Template" => link.template = value.to_owned(),
        "Scope" => link.scope = line.words[2..].iter().map(|s| (*s).to_owned()).collect(),
        "DisableNonWordPrefix" => link.disable_non_word_prefix = flag()?,
        "DisableNonWordSuffix" => link.disable_non_word_suffix = flag()?,
        "WordMatch" => link.word_match = flag()?,
        "Disabled" => link.disabled = flag()?,
        "ProcessBotPosts" => link.process_bot_posts = flag()?,
        other => {
            return Err(format!("{} is not a supported field, must be one of {}", quote(other), quote_all(FIELDS)));
        }
    }
    let name = if link.name.is_empty() { line.words[0].to_owned() } else { link.name.clone() };
    save(cx, current, links).await?;
    list(&current.get(), Line { command: "", words: &[&name] })
}

fn test(conf: &Config, line: Line<'_>) -> Answer {
    if line.words.len() < 2 {
        return Ok(HELP.into());
    }
    let (links, refs) = find(conf, false, line.words)?;
    let mut text = line.after(1).to_owned();
    let mut out = format!("- Original: `{text}`\n");
    for i in refs {
        let mut link = links[i].clone();
        link.disabled = false;
        let name = link.display_name().to_owned();
        link.compile().map_err(|e| format!("failed to compile link {name}: {e}"))?;
        let replaced = link.replace(&text);
        if replaced == text {
            out += &format!("- Link {name}: _no change_\n");
        } else {
            out += &format!("- Link {name}: changed to `{replaced}`\n");
            text = replaced;
        }
    }
    Ok(out)
}

/// The links in `/autolink list` order and the ones `words[0]` names: a
/// number in that list, or a part of names (one name only if `unique`).
fn find(conf: &Config, unique: bool, words: &[&str]) -> Result<(Vec<Link>, Vec<usize>), String> {
    let links = conf.sorted_links();
    let Some(&name) = words.first() else {
        return if unique { Err("unreachable".into()) } else { Ok((links, Vec::new())) };
    };
    if let Some(n) = name.bytes().all(|b| b.is_ascii_digit()).then(|| name.parse::<u32>().ok()).flatten() {
        if n < 1 || n as usize > links.len() {
            return Err(format!("{n} is not a valid link number"));
        }
        return Ok((links, vec![n as usize - 1]));
    }
    let found: Vec<usize> = (0..links.len()).filter(|&i| links[i].name.contains(name)).collect();
    if found.is_empty() {
        return Err(format!("{} not found", quote(name)));
    }
    if unique && found.len() > 1 {
        let names = found.iter().map(|&i| links[i].name.as_str());
        return Err(format!("{} matched more than one link: {}", quote(name), quote_all(names)));
    }
    Ok((links, found))
}

/// The links whose template or pattern (`field`) contains the rest of the
/// line, in any case.
fn by_field(conf: &Config, field: &str, line: Line<'_>) -> Result<(Vec<Link>, Vec<usize>), String> {
    let links = conf.sorted_links();
    if line.words.len() == 1 {
        return Ok((links, Vec::new()));
    }
    let value = line.after(1);
    let of = |l: &Link| {
        if field == "Template" { l.template.to_lowercase() } else { l.pattern.to_lowercase() }
    };
    let found: Vec<usize> = (0..links.len()).filter(|&i| of(&links[i]).contains(&value.to_lowercase())).collect();
    if found.is_empty() {
        return Err(format!("{} not found", quote(value)));
    }
    Ok((links, found))
}

/// Puts `links` in force and saves them; the server then runs
/// `OnConfigurationChange`, which reads them back.
pub(crate) async fn save(cx: &Context, current: &Current<Config>, mut links: Vec<Link>) -> Result<(), String> {
    for link in &mut links {
        // A link that does not compile stays saved and inactive, as at load.
        let _ = link.compile();
    }
    current.update(|conf| conf.links = links);
    cx.api.save_plugin_config(current.get().to_map()).await.map_err(|e| e.to_string())
}

fn parse_bool(value: &str) -> Result<bool, String> {
    match value.to_lowercase().as_str() {
        "true" | "on" => Ok(true),
        "false" | "off" => Ok(false),
        _ => Err(format!("Not a bool, {}", quote(value))),
    }
}

/// `s` quoted as Go's `%q` quotes it.
fn quote(s: &str) -> String {
    format!("{s:?}")
}

/// A list quoted as Go's `%q` prints a `[]string`.
fn quote_all<'a>(items: impl IntoIterator<Item = &'a str>) -> String {
    format!("[{}]", items.into_iter().map(quote).collect::<Vec<_>>().join(" "))
}
