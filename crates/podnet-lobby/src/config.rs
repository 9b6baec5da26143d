//! The lobby's settings.

use std::time::Duration;

/// How a lobby runs: group size, login deadline, name rules, shutdown grace.
///
/// ```
/// use std::time::Duration;
/// use podnet_lobby::LobbyConfig;
///
/// let config = LobbyConfig::new(4).with_login_timeout(Duration::from_secs(10));
/// assert_eq!(config.group_size, 4);
/// assert_eq!(config.max_name_len, 16);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LobbyConfig {
    /// Players per game session: every `group_size` waiting players, in the order they
    /// joined, form one group.
    ///
    /// Default: **2**. At least 1 ([`LobbyConfig::new`] raises 0 to 1).
    pub group_size: usize,

    /// How long a new connection has to log in with a free, valid name. Past it, the
    /// connection is closed with the reason "no login within ...". Failed attempts do not
    /// extend it.
    ///
    /// Default: **30 s**.
    pub login_timeout: Duration,

    /// The longest name, in characters (Unicode scalar values). Names must also be
    /// non-empty once surrounding whitespace is ignored, and free of control characters.
    /// Names are unique ignoring case: "Alice" and "alice" are the same name.
    ///
    /// Default: **16**.
    pub max_name_len: usize,

    /// The kinds of game a group may choose among (nine43's select section). With two or
    /// more, each new group is asked to vote ([`ChooseGame`](crate::protocol::ChooseGame))
    /// and its session starts with the kind chosen ([`SessionCtx::kind`](crate::SessionCtx::kind));
    /// with none or one, sessions start at once.
    ///
    /// Default: **none**.
    pub game_kinds: Vec<String>,

    /// How long a group has to choose its kind of game; then the votes so far decide.
    ///
    /// Default: **15 s**.
    pub choose_timeout: Duration,

    /// On shutdown, how long running sessions may go on before they are cut.
    /// `Duration::MAX` means until they finish by themselves.
    ///
    /// Default: **10 s**.
    pub session_grace: Duration,
}

impl LobbyConfig {
    /// The defaults, with groups of `group_size` (at least 1).
    pub fn new(group_size: usize) -> Self {
        Self {
            group_size: group_size.max(1),
            ..Self::default()
        }
    }

    /// Returns this config with [`login_timeout`](Self::login_timeout) set.
    ///
    /// ```
    /// # use std::time::Duration;
    /// let config = podnet_lobby::LobbyConfig::default().with_login_timeout(Duration::from_secs(5));
    /// assert_eq!(config.login_timeout, Duration::from_secs(5));
    /// ```
    #[must_use]
    pub fn with_login_timeout(mut self, timeout: Duration) -> Self {
        self.login_timeout = timeout;
        self
    }

    /// Returns this config with [`game_kinds`](Self::game_kinds) set: the kinds a group
    /// votes among, in order (a tie goes to the first).
    ///
    /// ```
    /// let config = podnet_lobby::LobbyConfig::new(2).with_game_kinds(["dice", "cards"]);
    /// assert_eq!(config.game_kinds, ["dice", "cards"]);
    /// ```
    #[must_use]
    pub fn with_game_kinds(mut self, kinds: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.game_kinds = kinds.into_iter().map(Into::into).collect();
        self
    }

    /// Returns this config with [`choose_timeout`](Self::choose_timeout) set.
    #[must_use]
    pub fn with_choose_timeout(mut self, timeout: Duration) -> Self {
        self.choose_timeout = timeout;
        self
    }

    /// Returns this config with [`session_grace`](Self::session_grace) set.
    ///
    /// ```
    /// # use std::time::Duration;
    /// let config = podnet_lobby::LobbyConfig::default().with_session_grace(Duration::ZERO);
    /// assert_eq!(config.session_grace, Duration::ZERO);
    /// ```
    #[must_use]
    pub fn with_session_grace(mut self, grace: Duration) -> Self {
        self.session_grace = grace;
        self
    }
}

impl Default for LobbyConfig {
    fn default() -> Self {
        Self {
            group_size: 2,
            login_timeout: Duration::from_secs(30),
            max_name_len: 16,
            session_grace: Duration::from_secs(10),
            game_kinds: Vec::new(),
            choose_timeout: Duration::from_secs(15),
        }
    }
}
