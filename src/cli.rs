//! Command-line interface: the commands, their flags and their help text.

use std::net::IpAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// perimeter: the IP catalog, the Internet access gateway and the mail gateway of a
/// government network.
///
/// Start with `perimeter up` (runs on defaults: SQLite in ./perimeter-data, API on
/// 127.0.0.1:8750). Register operators and organisations, create API tokens, and
/// import operators' IP lists with the commands below.
#[derive(Parser, Debug)]
#[command(name = "perimeter", version, propagate_version = true, max_term_width = 100)]
pub struct Cli {
    /// Configuration file (TOML). Without one, every setting takes its default.
    #[arg(long, short, global = true, env = "PERIMETER_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Data directory (overrides `data_dir`).
    #[arg(long, global = true, env = "PERIMETER_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Catalog database URL, sqlite://PATH or postgres://... (overrides `store.url`).
    #[arg(long, global = true, env = "PERIMETER_STORE_URL", value_name = "URL", hide_env_values = true)]
    pub store: Option<String>,
    /// Who is acting, as the audit trail names changes made from the command line
    /// (default: the person behind sudo, else the login name).
    #[arg(long = "as", global = true, env = "PERIMETER_ACTOR", value_name = "NAME")]
    pub acting_as: Option<String>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the service: API and console, catalog publisher and reconciler, web proxy, mail relay, packet gate.
    Up(UpArgs),
    /// Check a configuration file, or print the example one.
    #[command(subcommand)]
    Config(ConfigCmd),
    /// Telecom operators: register and inspect.
    #[command(subcommand)]
    Operator(OperatorCmd),
    /// User organisations: register, connect through operators, list.
    #[command(subcommand, name = "org")]
    Org(OrgCmd),
    /// Operators' IP lists: import, export, look up an address, history.
    #[command(subcommand)]
    Catalog(CatalogCmd),
    /// API tokens for operators and the duty team.
    #[command(subcommand)]
    Token(TokenCmd),
    /// People who log in to the console: duty team, operators' staff, auditors.
    #[command(subcommand)]
    User(UserCmd),
    /// The audit trail: who changed what, when.
    Audit(AuditArgs),
    /// The working-day calendar: check a file, list a year's days off, compute a deadline.
    #[command(subcommand)]
    Calendar(CalendarCmd),
    /// The gateway root CA: create, show, export for operators, rotate.
    #[command(subcommand)]
    Ca(CaCmd),
    /// Unknown source addresses seen by the gateways, with their notice and deadline.
    Unknown {
        /// Only this operator's.
        #[arg(long)]
        operator: Option<String>,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Notices sent to operators about unknown addresses, and their delivery status.
    Notices {
        #[arg(long)]
        operator: Option<String>,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Blocks: list them, or block and unblock by hand (duty team; a reason is required).
    #[command(subcommand)]
    Block(BlockCmd),
    /// Web access policies: check the files, explain a decision, list overdue requests.
    #[command(subcommand)]
    Policy(PolicyCmd),
    /// Connected government mail systems (the mail gateway's registry).
    #[command(subcommand)]
    Mail(MailCmd),
    /// The request desk: file applications, list and show them with who holds each and
    /// when its step is due, and move them on (one verb per transition).
    Request(RequestArgs),
    /// The packet gate: what it enforces and counts, what it does with a source, its rules.
    #[command(subcommand)]
    Gate(GateCmd),
    /// Run one reconciler pass now: open due notices, send them, apply passed deadlines.
    /// (`perimeter up` does this on its own every `notices.interval`.)
    Reconcile {
        /// Pretend it is this time (RFC 3339). Only honoured when PERIMETER_TEST_CLOCK=1,
        /// for tests; production always uses the real clock.
        #[arg(long, hide = true)]
        at: Option<String>,
        #[command(flatten)]
        json: JsonFlag,
    },
}

#[derive(Subcommand, Debug)]
pub enum GateCmd {
    /// Interfaces, backend, attach mode, catalog generation enforced and packet counts of
    /// the running gate (exit status 1 when it is not running).
    Status(JsonFlag),
    /// What the gate does with packets from IP, and why (from the catalog and `[gate]`).
    Explain {
        ip: IpAddr,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Print the nftables rules the gate installs beside itself (the HTTPS redirect to the
    /// transparent proxy, the QUIC answer), for operators who manage their own firewall.
    Rules,
}

#[derive(Subcommand, Debug)]
pub enum CalendarCmd {
    /// Check a calendar file (every error with its line); nothing is changed.
    Check { file: PathBuf },
    /// The weekdays off in a year under the calendar in force.
    Show { year: i32 },
    /// The deadline of a notice sent on DATE: the fifth working day after it.
    Deadline { date: String },
}

#[derive(Subcommand, Debug)]
pub enum CaCmd {
    /// Create the root CA (ECDSA P-256 unless `[ca] key = "rsa-3072"`).
    Init,
    /// Show the current root (and the previous one during an overlap).
    Show(JsonFlag),
    /// Write the root certificate (never the key) for operators: PEM, or DER with --der.
    Export {
        #[arg(long)]
        der: bool,
        /// Also include the previous root while it is still trusted (PEM only).
        #[arg(long, conflicts_with = "der")]
        bundle: bool,
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
    /// Make a new root; the old one stays trusted for `[ca] overlap`. Every operator
    /// with a contact address is e-mailed the new certificate and its fingerprint.
    Rotate,
}

#[derive(Subcommand, Debug)]
pub enum BlockCmd {
    /// Block an address or prefix.
    Add {
        /// An address (203.0.113.7) or a prefix (203.0.113.0/24).
        target: String,
        #[arg(long)]
        reason: String,
    },
    /// Lift the live block on exactly this address or prefix.
    Lift {
        target: String,
        #[arg(long)]
        reason: String,
    },
    /// List live blocks (or all, with --all).
    List {
        #[arg(long)]
        all: bool,
        /// auto or manual
        #[arg(long)]
        kind: Option<String>,
        #[arg(long)]
        operator: Option<String>,
        /// Only blocks covering this address.
        #[arg(long)]
        ip: Option<IpAddr>,
        #[command(flatten)]
        json: JsonFlag,
    },
}

#[derive(Subcommand, Debug)]
pub enum PolicyCmd {
    /// Load the configured category lists and policy book (or the given policy file) and
    /// report every problem; nothing changes.
    Check { file: Option<PathBuf> },
    /// What the web gateway decides for an organisation and a host today, and why.
    Explain {
        /// The organisation's BIN.
        #[arg(long)]
        org: String,
        host: String,
    },
    /// Requests not applied within ten working days of receipt (rule 4).
    Overdue,
    /// Write the policies the web gateway enforces (the policy file with the request
    /// desk's applied applications) in the policy file's TOML format.
    Export {
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
}

#[derive(Subcommand, Debug)]
pub enum MailCmd {
    /// Connect a mail system: its domains, the addresses its servers send from, its
    /// owner organisation and technical contacts.
    Connect {
        /// Short handle (lowercase letters, digits, '-', '_', '.'), e.g. minfin-mail.
        name: String,
        /// BIN of the owner organisation (registered with `perimeter org add`).
        #[arg(long)]
        owner: String,
        /// A mail domain it receives for (repeat for several).
        #[arg(long = "domain", value_name = "DOMAIN", required = true)]
        domains: Vec<String>,
        /// An address its mail servers send from (repeat for several).
        #[arg(long = "server", value_name = "IP", required = true)]
        servers: Vec<IpAddr>,
        /// Where inbound mail goes (default: the first server, port 25).
        #[arg(long, value_name = "IP:PORT")]
        deliver_to: Option<std::net::SocketAddr>,
        /// A technical contact, e-mailed on suspension (repeat for several).
        #[arg(long = "contact", value_name = "EMAIL", required = true)]
        contacts: Vec<String>,
    },
    /// List mail systems and their status.
    List(JsonFlag),
    /// One mail system with its history.
    Show {
        name: String,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Suspend by hand: new mail gets 4xx, queued outbound mail is held (never dropped).
    Suspend {
        name: String,
        #[arg(long)]
        reason: String,
    },
    /// Resume a suspended system; its held mail is released with a fresh expiry.
    Resume {
        name: String,
        #[arg(long)]
        reason: String,
    },
    /// Delete a suspended system's held mail after review (the running gateway applies
    /// it; the count appears in `mail show`). Otherwise held mail waits for resumption.
    DeleteHeld {
        name: String,
        #[arg(long)]
        reason: String,
    },
    /// Disconnect now, or at an agreed time (--at, RFC 3339).
    Disconnect {
        name: String,
        #[arg(long)]
        reason: String,
        #[arg(long)]
        at: Option<String>,
    },
}

#[derive(Args, Debug)]
pub struct RequestArgs {
    /// Pretend it is this day or time (YYYY-MM-DD or RFC 3339). Only honoured when
    /// PERIMETER_TEST_CLOCK=1, for tests; production always uses the real clock.
    #[arg(long, hide = true)]
    pub at: Option<String>,
    #[command(subcommand)]
    pub command: RequestCmd,
}

/// The words a transition carries.
#[derive(Args, Debug)]
pub struct Reason {
    /// Why (sent to the applicant).
    #[arg(long)]
    pub reason: String,
}

#[derive(Subcommand, Debug)]
pub enum RequestCmd {
    /// File an application of KIND: operator-link, yearly-lists, risky-service, waf,
    /// defacement, resource-change, incident, mail-connection or mail-disconnection.
    ///
    /// Fields come from --fields FILE (a JSON object) and --set KEY=VALUE (repeat;
    /// lists as comma-separated values; KEY=@FILE reads the value from a file, e.g.
    /// certificate=@site.pem; a specialist's parts as specialists.0.name,
    /// specialists.0.email, specialists.0.work_phone, specialists.0.mobile). Every
    /// problem is reported at once, each with its field.
    File {
        kind: String,
        /// operator:NAME or org:BIN.
        #[arg(long)]
        applicant: String,
        /// An e-mail address every answer is sent to (repeat for several).
        #[arg(long = "contact", value_name = "EMAIL", required = true)]
        contacts: Vec<String>,
        #[arg(long, value_name = "FILE")]
        fields: Option<PathBuf>,
        #[arg(long = "set", value_name = "KEY=VALUE")]
        set: Vec<String>,
        /// The application signed with the organisation's digital signature (CMS, e.g.
        /// .p7s, content attached); required for yearly-lists and risky-service when
        /// `[desk] trust_anchors` is set, and its signer's BIN must be the applicant's.
        #[arg(long, value_name = "FILE")]
        signed: Option<PathBuf>,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Applications, overdue first, then by due day.
    List {
        /// Only those past their due day.
        #[arg(long)]
        overdue: bool,
        /// Only those due within this many working days (overdue ones included).
        #[arg(long, value_name = "DAYS")]
        due_within: Option<u32>,
        /// Only this applicant's (operator:NAME or org:BIN).
        #[arg(long)]
        applicant: Option<String>,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// One application: state, holder, due day, fields, timeline, attachments.
    Show {
        id: i64,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Attach a file (PDF, PNG, JPEG, PKCS#7, text or CSV; at most 10 MiB).
    Attach {
        id: i64,
        file: PathBuf,
        /// Its content type (default: from the file name).
        #[arg(long = "type")]
        content_type: Option<String>,
    },
    /// Mail connection: eligibility and technical possibility checked.
    Check { id: i64 },
    /// Operator link: issue technical conditions item by item (IQBSH appendix 2; valid
    /// 60 calendar days). Items left out are the regulation's text. The operator is
    /// e-mailed them as a PDF in Russian and Kazakh, also attached to the application.
    Conditions {
        id: i64,
        #[arg(long)]
        number: String,
        #[command(flatten)]
        items: ConditionItems,
    },
    /// Operator link: the operator reports readiness.
    Ready { id: i64 },
    /// Operator link: non-conformities found (the operator has 5 working days).
    Nonconform {
        id: i64,
        #[command(flatten)]
        reason: Reason,
    },
    /// Operator link: extend the technical conditions by 60 days (at least 10 days
    /// before they expire).
    Extend { id: i64 },
    /// Connect (operator link, WAF, defacement protection, mail system: a mail system
    /// is created in the registry).
    Connect { id: i64 },
    /// Apply yearly lists or a risky service (valid one calendar year), or a mail
    /// system's disconnection letter (the system is disconnected in the registry, now
    /// or from the agreed day).
    Apply { id: i64 },
    /// Close a reported change or incident.
    Close {
        id: i64,
        #[arg(long)]
        note: String,
    },
    /// Refuse, with reasons (a WAF, defacement or mail connection may be applied for
    /// again for the same site or mail domain after 30 calendar days; the other kinds at
    /// once).
    Refuse {
        id: i64,
        #[command(flatten)]
        reason: Reason,
    },
    /// Disconnect a connected mail system, now or at the time agreed with its owner.
    Disconnect {
        id: i64,
        #[command(flatten)]
        reason: Reason,
        /// The agreed time (RFC 3339); the relay disconnects the system then.
        #[arg(long)]
        at: Option<String>,
    },
    /// Record the lapse of technical conditions that expired without an extension, and
    /// remind organisations whose policies lapse within `[policies] remind_days`
    /// (`perimeter up` does this on its own every `notices.interval`).
    Sweep,
    /// Bring a policy file's organisations to the desk: each organisation's lists become
    /// a yearly-lists application (applied on the day granted, or pending) with the
    /// networks the catalog holds for it, each granted risky category an applied
    /// risky-service application. All or nothing; an organisation that already has
    /// such applications at the desk refuses the import.
    Import {
        /// A policy file (the format `perimeter policy export` writes).
        file: PathBuf,
        /// Where the imported applications' e-mails go (the file names no contacts).
        #[arg(long = "contact", value_name = "EMAIL", required = true)]
        contacts: Vec<String>,
    },
}

/// The items of technical conditions (IQBSH appendix 2, 2.3–2.8).
#[derive(Args, Debug)]
pub struct ConditionItems {
    /// 2.3: where the channels are connected (rack, shelf, ports).
    #[arg(long)]
    pub connection_point: String,
    /// 2.4 (default "10G, full-duplex, SM").
    #[arg(long)]
    pub interface: Option<String>,
    /// 2.5 (default: main and backup over independent physical channels).
    #[arg(long)]
    pub channels: Option<String>,
    /// 2.6 (default: SC-LC patch cords between the optical shelves in corrugated pipe).
    #[arg(long)]
    pub patch_cords: Option<String>,
    /// 2.7 (default: patch cords labelled with their owner).
    #[arg(long)]
    pub labelling: Option<String>,
    /// 2.8 (default: works agreed with the duty team beforehand).
    #[arg(long)]
    pub works: Option<String>,
}

#[derive(Args, Debug)]
pub struct UpArgs {
    /// Address for the API (overrides `api.listen`); port 0 picks a free port.
    #[arg(long, value_name = "ADDR:PORT")]
    pub listen: Option<std::net::SocketAddr>,
    /// Address for the explicit web proxy (overrides `proxy.explicit.listen`).
    #[arg(long, env = "PERIMETER_PROXY_LISTEN", value_name = "ADDR:PORT")]
    pub proxy_listen: Option<std::net::SocketAddr>,
    /// Address for the mail relay (overrides `relay.listen`).
    #[arg(long, env = "PERIMETER_RELAY_LISTEN", value_name = "ADDR:PORT")]
    pub relay_listen: Option<std::net::SocketAddr>,
}

#[derive(Subcommand, Debug)]
pub enum ConfigCmd {
    /// Parse the configuration (from --config) and print it with every default filled in.
    Check,
    /// Print a commented example configuration.
    Example,
}

#[derive(Subcommand, Debug)]
pub enum OperatorCmd {
    /// Register an operator.
    Add {
        /// Short handle: lowercase letters, digits, '-', '_', '.' (e.g. kaztelecom).
        name: String,
        /// Full legal name.
        #[arg(long)]
        full_name: Option<String>,
        /// Contact e-mail for notices (repeat for several).
        #[arg(long = "contact", value_name = "EMAIL")]
        contacts: Vec<String>,
        /// A link on which this operator delivers traffic (repeat for several).
        #[arg(long = "link", value_name = "LINK")]
        links: Vec<String>,
    },
    /// List operators.
    List(JsonFlag),
    /// Show one operator.
    Show {
        name: String,
        #[command(flatten)]
        json: JsonFlag,
    },
}

#[derive(Subcommand, Debug)]
pub enum OrgCmd {
    /// Register an organisation by its BIN.
    Add {
        /// Business identification number: 12 digits with a valid check digit.
        #[arg(long)]
        bin: String,
        /// Organisation name.
        #[arg(long)]
        name: String,
        /// Operator that connects it (repeat for several).
        #[arg(long = "operator", value_name = "OPERATOR", required = true)]
        operators: Vec<String>,
    },
    /// Connect an organisation through one more operator.
    Connect { bin: String, operator: String },
    /// List organisations.
    List {
        /// Only those connected through this operator.
        #[arg(long)]
        operator: Option<String>,
        #[command(flatten)]
        json: JsonFlag,
    },
}

#[derive(Subcommand, Debug)]
pub enum CatalogCmd {
    /// Replace an operator's list with FILE (CSV or JSON) as a whole, atomically.
    ///
    /// Rows are `prefix,bin[,comment]` (CSV, optional header, '#' comments) or a JSON
    /// array of {"prefix", "bin", "comment"}. A bad file applies nothing and every
    /// problem is listed with its line.
    Import {
        #[arg(long)]
        operator: String,
        file: PathBuf,
        /// Only show what would change.
        #[arg(long)]
        dry_run: bool,
        /// File format (default: from the file name, else CSV).
        #[arg(long, value_enum)]
        format: Option<ListFormat>,
        /// Print only the counts, not every changed prefix.
        #[arg(long)]
        summary: bool,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Write an operator's current list (CSV or JSON) to stdout or a file.
    Export {
        #[arg(long)]
        operator: String,
        #[arg(long, value_enum, default_value = "csv")]
        format: ListFormat,
        /// Output file (default: stdout).
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
    /// Show which organisation and operator own an address (longest-prefix match).
    Lookup {
        ip: IpAddr,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Who held an address: every assignment covering it, or those valid at a time.
    History {
        ip: IpAddr,
        /// An instant, RFC 3339 (2026-03-01T12:00:00+05:00).
        #[arg(long, conflicts_with = "on")]
        at: Option<String>,
        /// A date in Kazakhstan time (YYYY-MM-DD): everyone who held it that day.
        #[arg(long)]
        on: Option<String>,
        #[command(flatten)]
        json: JsonFlag,
    },
}

#[derive(Subcommand, Debug)]
pub enum TokenCmd {
    /// Create a token and print its secret once.
    Create {
        /// A name for the token (who or what uses it).
        name: String,
        /// A duty-team token: sees and changes everything.
        #[arg(long, group = "role", required_unless_present_any = ["operator", "organisation"])]
        duty: bool,
        /// An operator token: sees and changes only this operator's data.
        #[arg(long, group = "role")]
        operator: Option<String>,
        /// An organisation's token (its BIN): files and follows only its own
        /// applications at the request desk, and nothing else.
        #[arg(long, group = "role")]
        organisation: Option<String>,
    },
    /// List tokens (never their secrets).
    List(JsonFlag),
    /// Revoke a token.
    Revoke { name: String },
}

#[derive(Subcommand, Debug)]
pub enum UserCmd {
    /// Register a person for the console. The password is asked for twice on a
    /// terminal, or read as the first line of standard input.
    Add {
        /// Login name: lowercase letters, digits, '-', '_', '.'.
        name: String,
        /// Duty team: sees and changes everything.
        #[arg(long, group = "role", required_unless_present_any = ["operator", "auditor", "organisation"])]
        duty: bool,
        /// An operator's staff: sees and changes only this operator's data.
        #[arg(long, group = "role")]
        operator: Option<String>,
        /// An organisation's staff (its BIN): file and follow only its own
        /// applications at the request desk.
        #[arg(long, group = "role")]
        organisation: Option<String>,
        /// Auditor: sees everything, changes nothing.
        #[arg(long, group = "role")]
        auditor: bool,
        /// The console's language for this person: ru, kk or en.
        #[arg(long, default_value = "ru")]
        lang: String,
    },
    /// Set a new password (ends the person's sessions and clears a lockout).
    Passwd { name: String },
    /// Disable a person: their sessions end at once and they cannot log in.
    Disable { name: String },
    /// Enable a disabled person again.
    Enable { name: String },
    /// List people (never their passwords).
    List(JsonFlag),
}

#[derive(Args, Debug)]
pub struct AuditArgs {
    /// Only changes to this subject (operator:NAME, organisation:BIN, token:NAME).
    #[arg(long)]
    pub subject: Option<String>,
    /// How many of the newest changes.
    #[arg(long, default_value_t = 50)]
    pub limit: i64,
    #[command(flatten)]
    pub json: JsonFlag,
}

#[derive(Args, Debug, Clone, Copy)]
pub struct JsonFlag {
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(ValueEnum, Clone, Copy, Debug)]
pub enum ListFormat {
    Csv,
    Json,
}

impl From<ListFormat> for catalog::Format {
    fn from(f: ListFormat) -> catalog::Format {
        match f {
            ListFormat::Csv => catalog::Format::Csv,
            ListFormat::Json => catalog::Format::Json,
        }
    }
}
