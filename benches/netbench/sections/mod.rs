//! The sections of the report: each runs its workload's contenders
//! (timed, counted, under strace and callgrind), writes its tables and
//! judges its rows of the target table.

mod balance;
mod readiness;
mod sockets;

pub(crate) use balance::balance;
pub(crate) use readiness::{pingpong, register, waitcost, wake};
pub(crate) use sockets::{blocking, c10k, churn, udp};
