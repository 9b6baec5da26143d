//! Random changes to a nested state, followed by players with different views: after
//! every send each player's replica is exactly what their view shows, and no byte sent to
//! a player holds anything their view hides.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;

use podnet_framing::{FramingConfig, RawMessage};
use podnet_proto::ConnectionId;
use podnet_state::{Replica, Replicated, StateConfig, encode};
use podnet_testkit::Rng;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Clone, Default, PartialEq, Debug)]
struct World {
    teams: BTreeMap<String, Team>,
    scores: Vec<i64>,
    tick: u64,
}

#[derive(Serialize, Deserialize, Clone, Default, PartialEq, Debug)]
struct Team {
    units: BTreeMap<u32, Unit>,
    /// Only the team sees it.
    secret: String,
    log: Vec<String>,
}

#[derive(Serialize, Deserialize, Clone, Default, PartialEq, Debug)]
struct Unit {
    x: i32,
    y: i32,
    hp: u8,
}

/// What a player of `team` (or a spectator, `None`) sees: every team's units and log,
/// only their own team's secret.
fn view(world: &World, team: &Option<String>) -> World {
    let mut seen = world.clone();
    for (name, t) in &mut seen.teams {
        if Some(name) != team.as_ref() {
            t.secret.clear();
        }
    }
    seen
}

const TEAMS: [&str; 3] = ["red", "blue", "green"];

fn change(world: &mut World, rng: &mut Rng, n: u64) {
    let team = TEAMS[rng.below(3) as usize].to_owned();
    match rng.below(10) {
        0 => {
            world.teams.remove(&team);
        }
        1 => {
            world.teams.entry(team.clone()).or_default().secret = format!("SECRET-{team}-{n}");
        }
        2..=4 => {
            let units = &mut world.teams.entry(team).or_default().units;
            let id = rng.below(20) as u32;
            if rng.below(4) == 0 {
                units.remove(&id);
            } else {
                let unit = units.entry(id).or_default();
                unit.x += rng.below(3) as i32 - 1;
                unit.y += rng.below(3) as i32 - 1;
                unit.hp = rng.below(100) as u8;
            }
        }
        5 => {
            let log = &mut world.teams.entry(team).or_default().log;
            if rng.below(3) == 0 {
                log.truncate(rng.below(log.len() as u64 + 1) as usize);
            } else {
                log.push(format!("line {n}"));
            }
        }
        6 => world.scores.push(n as i64),
        7 => {
            let len = world.scores.len() as u64;
            world.scores.truncate(rng.below(len + 1) as usize);
        }
        8 => {
            if let Some(s) = world.scores.first_mut() {
                *s = -(n as i64);
            }
        }
        _ => world.tick += 1,
    }
}

struct Player {
    id: ConnectionId,
    team: Option<String>,
    replica: Replica,
}

#[test]
fn every_replica_is_its_view_and_nothing_hidden_is_sent() {
    let mut room = Replicated::with_views(
        World::default(),
        StateConfig::default(),
        |world: &World, team: &Option<String>| encode(&view(world, team)),
    );
    let mut players: Vec<Player> = [Some("red"), Some("red"), Some("blue"), None]
        .into_iter()
        .enumerate()
        .map(|(i, team)| Player {
            id: ConnectionId::from_raw(i as u64 + 1),
            team: team.map(str::to_owned),
            replica: Replica::new("state"),
        })
        .collect();
    for p in &players {
        room.follow_as(p.id, p.team.clone());
    }
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let framing = FramingConfig::default();
    let mut sends = 0;
    for n in 0..100_000u64 {
        change(room.state_mut(), &mut rng, n);
        if n == 50_000 {
            // A late joiner, and a player who changes sides.
            players.push(Player {
                id: ConnectionId::from_raw(99),
                team: Some("green".into()),
                replica: Replica::new("state"),
            });
            room.follow_as(ConnectionId::from_raw(99), Some("green".into()));
            players[1].team = Some("blue".into());
            room.follow_as(players[1].id, Some("blue".into()));
        }
        if n % 10 != 9 {
            continue;
        }
        sends += 1;
        let mut frames: Vec<(ConnectionId, podnet_framing::Frame)> = Vec::new();
        room.send_each(|id, frame| frames.push((id, frame.clone())))
            .unwrap();
        for (id, frame) in frames {
            let p = players.iter_mut().find(|p| p.id == id).unwrap();
            let bytes = frame.as_bytes();
            // Nothing of another team's secret, in the bytes themselves.
            for team in TEAMS {
                if p.team.as_deref() != Some(team) {
                    let marker = format!("SECRET-{team}-");
                    assert!(
                        !bytes.windows(marker.len()).any(|w| w == marker.as_bytes()),
                        "{marker} sent to a player of {:?}",
                        p.team
                    );
                }
            }
            let msg = RawMessage::parse(bytes.slice(4..), &framing).unwrap();
            p.replica.apply(&msg).unwrap();
        }
        for p in &players {
            assert_eq!(
                p.replica.get::<World>().unwrap(),
                view(room.state(), &p.team),
                "player {} of {:?} after change {n}",
                p.id,
                p.team
            );
        }
    }
    assert_eq!(sends, 10_000);
}

/// Nothing changed, nothing sent; a change goes out encoded once per view, to each
/// player of it; a player who leaves gets nothing more.
#[test]
fn a_change_is_encoded_once_per_view() {
    let mut room = Replicated::with_views(
        World::default(),
        StateConfig::default(),
        |world: &World, team: &Option<String>| encode(&view(world, team)),
    );
    let ids: Vec<ConnectionId> = (1..=5).map(ConnectionId::from_raw).collect();
    for (i, id) in ids.iter().enumerate() {
        room.follow_as(*id, Some(TEAMS[i % 2].to_owned()));
    }
    let sent = room.send_each(|_, _| {}).unwrap();
    assert_eq!(
        (sent.encoded, sent.sent),
        (2, 5),
        "the whole state, once per view"
    );
    let sent = room.send_each(|_, _| panic!("nothing changed")).unwrap();
    assert_eq!(sent.sent, 0);
    room.state_mut().tick = 7;
    let sent = room.send_each(|_, _| {}).unwrap();
    assert_eq!((sent.encoded, sent.sent), (2, 5));
    room.unfollow(ids[0]);
    room.state_mut().tick = 8;
    let mut got = Vec::new();
    room.send_each(|id, _| got.push(id)).unwrap();
    got.sort();
    assert_eq!(got, ids[1..]);
}
