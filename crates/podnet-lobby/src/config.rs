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

    /// On shutdown, how long running sessions may go on before they are cut.
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
        }
    }
}
