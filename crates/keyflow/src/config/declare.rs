//! The `settings!` macro: every setting is declared once, in the table in
//! `catalog.rs`, and everything that knows the settings is generated from
//! that declaration: the catalogue entry ([`super::SettingInfo`] and
//! `SETTINGS`, which print `--help`'s footer and the README table), the
//! typed fields and defaults of `Config`, `EdgeConfig`, `RuntimeSettings`
//! (whose field names are the settings API's) and `ImageSettings`, the
//! fields of `FileConfig`/`FileImage` (the TOML keys), the clap fields of
//! `GlobalFlags`, and the resolution of each (flag > environment > file >
//! default, `resolve_settings`).
//!
//! One declaration reads:
//!
//! ```text
//! /// help line: what the setting does (catalogue, --help footer, field doc)
//! CONST field [as "toml_key"]: Type [[secret]] {
//!     env ["CANONICAL", "ALIAS", ...],     // the first one set wins
//!     parse parser,                        // fn(&str) -> Result<Type, String>: env, file text, default
//!     default "text" | unset "text",       // parsed into the typed default | Type::default(), text shown as is
//!     file FileType [=> from_file::via],   // the TOML value; read as text by `parse` unless a via is named
//!     [flag name: FlagType [VALUE_NAME] [by value_parser] [=> from_flag::via], "help {env} {default}"
//!         [, before other_field];]         // `--name`; `{env}`, `{default}` filled in from the declaration
//!     [switch name, "help {env}";]         // a `--name[=BOOL]` flag
//!     [pick Layers::hook;]                 // replaces `Layers::set` for the few special settings
//! }
//! ```
//!
//! The table has five blocks in README order: `boot` (fields of `Config`),
//! `edge` (`EdgeConfig`), `boot` again, `live` (`RuntimeSettings`) and
//! `image` (`ImageSettings`, the `[image]` table). The last rule reads the
//! table as written and turns each declaration into one bracketed group
//! of fixed parts, so the rules that generate each piece match it without
//! repeating the grammar.

/// See the module documentation.
macro_rules! settings {
    (@blocks
        boot { $($boot:tt)* }
        edge { $($edge:tt)* }
        boot { $($boot2:tt)* }
        live { $($live:tt)* }
        image { $($image:tt)* }
    ) => {
        settings!(@consts false "" $($boot)* $($edge)* $($boot2)*);
        settings!(@consts true "" $($live)*);
        settings!(@consts true "image." $($image)*);

        /// Every setting, boot settings first, in the order of the README table.
        pub const SETTINGS: &[SettingInfo] = &settings!(@konsts $($boot)* $($edge)* $($boot2)* $($live)* $($image)*);

        settings!(@struct
            /// Boot settings, fixed for the life of the process.
            #[derive(Debug, Clone)]
            Config {
                /// Limits of the client-facing server (timeouts, connections, hosts).
                pub edge: EdgeConfig,
                /// The file that was read, if any.
                pub config_file: Option<::std::path::PathBuf>,
                /// Seeds for the live settings.
                pub runtime: RuntimeSettings,
                /// Where each setting not left at its default came from, by file key.
                pub origins: ::std::collections::BTreeMap<&'static str, $crate::config::Origin>,
                /// Things said about the configuration that do not stop the start
                /// (a value clamped, a name kept only for compatibility), logged once.
                pub notices: Vec<String>,
                /// Variables read from `./.env`.
                pub dotenv_vars: usize,
            } {
                edge: EdgeConfig::default(),
                config_file: None,
                runtime: RuntimeSettings::default(),
                origins: ::std::collections::BTreeMap::new(),
                notices: Vec::new(),
                dotenv_vars: 0,
            }
            $($boot)* $($boot2)*
        );
        settings!(@struct
            /// The client-facing server's limits (SPEC §10): who may be served and how
            /// long a client may hold resources before sending a whole request.
            #[derive(Debug, Clone)]
            EdgeConfig {} {}
            $($edge)*
        );
        settings!(@struct
            /// Settings editable while running. A missing JSON field takes its default;
            /// an unknown one is an error.
            #[derive(Clone, PartialEq, Eq, ::serde::Serialize, ::serde::Deserialize)]
            #[serde(default, deny_unknown_fields)]
            RuntimeSettings {
                /// Images through chat (spec section 7).
                pub image: ImageSettings,
            } {
                image: ImageSettings::default(),
            }
            $($live)*
        );
        settings!(@struct
            /// Images through chat (spec section 7).
            #[derive(Clone, PartialEq, Eq, ::serde::Serialize, ::serde::Deserialize)]
            #[serde(default, deny_unknown_fields)]
            ImageSettings {} {}
            $($image)*
        );
        settings!(@masked RuntimeSettings [image] $($live)*);
        settings!(@masked ImageSettings [] $($image)*);

        settings!(@file
            /// The parsed `keyflow.toml`. Values are checked when merged (`resolve`),
            /// where an error can name the file and key.
            FileConfig {
                /// Where the file was read from, for messages.
                #[serde(skip)]
                pub path: ::std::path::PathBuf,
            } {
                pub image: Option<FileImage>,
            }
            $($boot)* $($edge)* $($boot2)* $($live)*
        );
        settings!(@file
            /// The `[image]` table.
            FileImage {} {}
            $($image)*
        );

        settings!(@flags
            { $crate::config::flags::SERVER, false: $($boot)* $($edge)* $($boot2)* }
            { $crate::config::flags::RUNTIME, true: $($live)* }
            { $crate::config::flags::IMAGES, true: $($image)* }
        );

        /// Merges the flags, the environment (through `r`) and the file into
        /// `config`, one setting at a time; the order decides which error is
        /// reported when several values are wrong.
        pub(super) fn resolve_settings(
            r: &mut $crate::config::resolve::Layers<'_>,
            flags: &GlobalFlags,
            file: FileConfig,
            config: &mut Config,
        ) -> Result<(), $crate::config::ConfigError> {
            let image = file.image.unwrap_or_default();
            settings!(@resolve r flags file [config.edge] $($edge)*);
            settings!(@resolve r flags file [config] $($boot)* $($boot2)*);
            settings!(@resolve r flags file [config.runtime] $($live)*);
            settings!(@resolve r flags image [config.runtime.image] $($image)*);
            Ok(())
        }
    };

    (@consts $runtime:literal $prefix:literal $(
        [$konst:ident $field:ident ($($key:literal)?) $ty:tt ($($secret:ident)?) ($($env:literal),+) $parse:tt
         ($dkind:ident $default:expr) $file:tt $flag:tt $pick:tt ($help:literal)]
    )*) => {$(
        #[doc = $help]
        pub const $konst: SettingInfo = SettingInfo {
            key: settings!(@key $prefix $field $($key)?),
            env: &[$($env),+],
            flag: settings!(@flag_name $flag),
            default: $default,
            help: $help.trim_ascii_start(),
            secret: settings!(@present $($secret)?),
            runtime: $runtime,
        };
    )*};
    (@key $prefix:literal $field:ident) => { concat!($prefix, stringify!($field)) };
    (@key $prefix:literal $field:ident $key:literal) => { concat!($prefix, $key) };
    (@present) => { false };
    (@present secret) => { true };
    (@flag_name ()) => { None };
    (@flag_name (flag $name:ident $($rest:tt)*)) => { Some(settings!(@long $name)) };
    (@flag_name (switch $name:ident $($rest:tt)*)) => { Some(settings!(@long $name)) };
    // `--name`, with `-` for `_`: what clap's derive makes of the field name.
    (@long $name:ident) => {{
        const LONG: [u8; stringify!($name).len() + 2] = $crate::config::flags::long_flag(stringify!($name));
        match ::std::str::from_utf8(&LONG) {
            Ok(long) => long,
            Err(_) => "",
        }
    }};
    (@konsts $([$konst:ident $($rest:tt)*])*) => { [$($konst),*] };

    (@struct $(#[$attr:meta])* $name:ident { $($extra:tt)* } { $($extra_default:tt)* } $(
        [$konst:ident $field:ident $key:tt ($ty:ty) $secret:tt $env:tt ($parse:expr) ($dkind:ident $default:expr)
         $file:tt $flag:tt $pick:tt ($help:literal)]
    )*) => {
        $(#[$attr])*
        pub struct $name {
            $(
                #[doc = $help]
                pub $field: $ty,
            )*
            $($extra)*
        }

        impl Default for $name {
            fn default() -> Self {
                $name {
                    $($field: settings!(@default $dkind $ty, $default, $parse),)*
                    $($extra_default)*
                }
            }
        }
    };
    (@default default $ty:ty, $text:expr, $parse:expr) => {
        $crate::config::declare::parsed_default::<$ty>($text, &$parse)
    };
    (@default unset $ty:ty, $text:expr, $parse:expr) => { <$ty>::default() };

    (@masked $name:ident [$($nested:ident)?] $(
        [$konst:ident $field:ident $key:tt $ty:tt ($($secret:ident)?) $($rest:tt)*]
    )*) => {
        /// Masks the secrets, so a stray `{:?}` never prints one.
        impl ::std::fmt::Debug for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.debug_struct(stringify!($name))
                    $(.field(stringify!($field), &settings!(@shown ($($secret)?) self.$field)))*
                    $(.field(stringify!($nested), &self.$nested))?
                    .finish()
            }
        }

        impl $name {
            /// Calls `visit` with every secret field and the same field of `other`.
            pub(crate) fn each_secret(
                &mut self,
                other: &Self,
                visit: &mut dyn FnMut(&mut Option<String>, &Option<String>),
            ) {
                $(settings!(@visit ($($secret)?) visit, self.$field, other.$field);)*
                $(self.$nested.each_secret(&other.$nested, visit);)?
            }
        }
    };
    (@shown () $value:expr) => { $value };
    (@shown (secret) $value:expr) => { $value.as_deref().map($crate::secret::mask) };
    (@visit () $visit:ident, $mine:expr, $theirs:expr) => {};
    (@visit (secret) $visit:ident, $mine:expr, $theirs:expr) => { $visit(&mut $mine, &$theirs) };

    (@file $(#[$attr:meta])* $name:ident { $($before:tt)* } { $($after:tt)* } $(
        [$konst:ident $field:ident ($($key:literal)?) $ty:tt $secret:tt $env:tt $parse:tt $default:tt
         ($fty:ty $(=> $via:expr)?) $($rest:tt)*]
    )*) => {
        $(#[$attr])*
        #[derive(Debug, Default, ::serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct $name {
            $($before)*
            $(
                $(#[serde(rename = $key)])?
                pub $field: Option<$fty>,
            )*
            $($after)*
        }
    };

    (@flags $({ $heading:path, $hide:literal: $(
        [$konst:ident $field:ident $key:tt $ty:tt $secret:tt $env:tt $parse:tt $default:tt $file:tt (
            $(flag $flag:ident ($flty:ty) $vn:ident ($($vp:expr)?) $via:tt $fhelp:literal ($($before:ident)?))?
            $(switch $switch:ident $shelp:literal)?
        ) $($rest:tt)*]
    )* })*) => {
        /// Flags for every setting that has one: the command-line layer of the
        /// configuration. `None` = not given on the command line. Live and
        /// image flags show only in `--help`, not `-h`.
        #[derive(Debug, Clone, Default, PartialEq, Eq, ::clap::Args)]
        pub struct GlobalFlags {
            /// TOML config file [env: KEYFLOW_CONFIG] [default: ./keyflow.toml if present]
            #[arg(long, global = true, value_name = "PATH", help_heading = $crate::config::flags::SERVER,
                  display_order = 0)]
            pub config: Option<::std::path::PathBuf>,
            $($(
                $(
                    #[arg(long, global = true, value_name = stringify!($vn), $(value_parser = $vp,)?
                          hide_short_help = $hide, help_heading = $heading,
                          display_order = $crate::config::flags::flag_order(
                              &$konst, None $(.or(Some(stringify!($before))))?),
                          help = $crate::config::flags::flag_help(&$konst, $fhelp))]
                    pub $flag: Option<$flty>,
                )?
                $(
                    #[arg(long, global = true, value_name = "BOOL", num_args = 0..=1, require_equals = true,
                          default_missing_value = "true", value_parser = $crate::config::parse::boolean,
                          hide_short_help = $hide, help_heading = $heading,
                          display_order = $crate::config::flags::flag_order(&$konst, None),
                          help = $crate::config::flags::flag_help(&$konst, $shelp))]
                    pub $switch: Option<bool>,
                )?
            )*)*
        }
    };

    (@resolve $r:ident $flags:ident $file:ident [$place:expr] $(
        [$konst:ident $field:ident $key:tt ($ty:ty) $secret:tt $env:tt ($parse:expr) $default:tt
         ($fty:ty $(=> $file_via:expr)?) $flag:tt ($($pick:expr)?) $help:tt]
    )*) => {$(
        {
            let info = &$konst;
            let parse: &dyn Fn(&str) -> Result<$ty, String> = &$parse;
            let flag_value: Option<$ty> = settings!(@flag_value $flags info parse $flag);
            let file_value: Option<$ty> = match $file.$field {
                Some(value) => {
                    let via = settings!(@first $($file_via,)? $crate::config::resolve::via::from_file::text);
                    Some(via(&*$r, info, value, parse)?)
                }
                None => None,
            };
            let pick = settings!(@first $($pick,)? $crate::config::resolve::Layers::set);
            pick(&mut *$r, &mut $place.$field, info, flag_value, parse, file_value)?;
        }
    )*};
    // The flag's value as the setting's type: none, as clap parsed it, or through its via.
    (@flag_value $flags:ident $info:ident $parse:ident ()) => { None };
    (@flag_value $flags:ident $info:ident $parse:ident (flag $flag:ident $a:tt $b:tt $c:tt () $($r:tt)*)) => {
        $flags.$flag.clone()
    };
    (@flag_value $flags:ident $info:ident $parse:ident (flag $flag:ident $a:tt $b:tt $c:tt ($via:expr) $($r:tt)*)) => {
        match $flags.$flag.clone() {
            Some(value) => Some($via($info, value, $parse)?),
            None => None,
        }
    };
    (@flag_value $flags:ident $info:ident $parse:ident (switch $switch:ident $($r:tt)*)) => { $flags.$switch };
    (@first $only:expr) => { $only };
    (@first $first:expr, $($rest:tt)*) => { $first };

    // The table as written: each declaration becomes one bracketed group.
    ($($block:ident {$(
        #[doc = $help:literal]
        $konst:ident $field:ident $(as $key:literal)? : $ty:ty $([$secret:ident])? {
            env [$($env:literal),+ $(,)?],
            parse $parse:expr,
            $dkind:ident $default:expr,
            file $fty:ty $(=> $file_via:expr)?,
            $(flag $flag:ident : $flty:ty [$vn:ident] $(by $vp:expr)? $(=> $via:expr)?, $fhelp:literal
              $(, before $before:ident)?;)?
            $(switch $switch:ident, $shelp:literal;)?
            $(pick $pick:expr;)?
        }
    )*})*) => {
        settings!(@blocks $($block {$(
            [$konst $field ($($key)?) ($ty) ($($secret)?) ($($env),+) ($parse) ($dkind $default)
             ($fty $(=> $file_via)?)
             ($(flag $flag ($flty) $vn ($($vp)?) ($($via)?) $fhelp ($($before)?))? $(switch $switch $shelp)?)
             ($($pick)?) ($help)]
        )*})*);
    };
}

pub(crate) use settings;

/// A setting's typed default: its default text read by its own parser, so
/// the value used and the text shown in `--help` and the README are one.
#[expect(clippy::expect_used, reason = "the catalogue's `every_default_parses` test reads every default text")]
pub(crate) fn parsed_default<T>(text: &str, parse: &dyn Fn(&str) -> Result<T, String>) -> T {
    parse(text).expect("a setting's default text parses")
}
