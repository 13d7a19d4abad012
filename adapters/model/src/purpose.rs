//! The purposes an exchange may be made for (DOMAIN.md §5, PIPL art. 6 minimisation), defined
//! once: the wire enum, the name operators write in `[policy]` and clerks type, and the legal
//! basis recorded with each disclosure. What each purpose may see is in [`Purpose::fields`].
use hfx_proto::v1 as pb;

/// One purpose and everything that is said about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Purpose {
    pub wire: pb::Purpose,
    /// The name in config files, on the command line and in disclosure records.
    pub name: &'static str,
    /// The legal basis recorded with each disclosure (PIPL art. 13: statutory duty).
    pub legal_basis: &'static str,
    /// What the answer may carry, for help texts and `docs/`.
    pub fields: &'static str,
}

/// Every purpose a request may name (not `Unspecified`).
pub const PURPOSES: [Purpose; 5] = [
    Purpose {
        wire: pb::Purpose::IdentityConfirmation,
        name: "identity_confirmation",
        legal_basis: "住房公积金管理条例 / 信息互认",
        fields: "yes/no and the masked name",
    },
    Purpose {
        wire: pb::Purpose::DuplicateAccountCheck,
        name: "duplicate_account_check",
        legal_basis: "住房公积金管理条例 / 信息互认",
        fields: "live account, status, open month",
    },
    Purpose {
        wire: pb::Purpose::TransferCheck,
        name: "transfer_check",
        legal_basis: "住房公积金管理条例 第二十条 / 异地转移接续",
        fields: "account, status, balance, paid-up-to month, six-consecutive-months flag",
    },
    Purpose {
        wire: pb::Purpose::LoanApplication,
        name: "loan_application",
        legal_basis: "住房公积金管理条例 第二十六条 / 异地贷款",
        fields: "the deposit-use certificate fields, masked name and id; refused for closed accounts",
    },
    Purpose {
        wire: pb::Purpose::LoanCheck,
        name: "loan_check",
        legal_basis: "住房公积金管理条例 第二十六条 / 异地贷款",
        fields: "loans as borrower or co-borrower: contract no., role, issue date, amounts, \
                 overdue periods, status (a member query: loan count and outstanding principal)",
    },
];

/// The names of every purpose, in wire order.
pub fn names() -> impl Iterator<Item = &'static str> {
    PURPOSES.iter().map(|p| p.name)
}

impl Purpose {
    /// The purpose a wire value names; `None` for `Unspecified` and unknown values.
    pub fn from_wire(v: pb::Purpose) -> Option<&'static Purpose> {
        PURPOSES.iter().find(|p| p.wire == v)
    }

    /// The purpose a wire integer names; `None` for `Unspecified` and unknown values.
    pub fn from_i32(v: i32) -> Option<&'static Purpose> {
        pb::Purpose::try_from(v).ok().and_then(Self::from_wire)
    }

    /// By name; `-` is accepted for `_` (`transfer-check`).
    pub fn from_name(s: &str) -> Option<&'static Purpose> {
        let s = s.trim().replace('-', "_");
        PURPOSES.iter().find(|p| p.name == s)
    }
}

/// The name of a wire purpose (`unspecified` for `Unspecified`).
pub fn purpose_name(p: pb::Purpose) -> &'static str {
    Purpose::from_wire(p)
        .map(|p| p.name)
        .unwrap_or("unspecified")
}

/// The wire purpose a name stands for.
pub fn purpose_from_name(s: &str) -> Option<pb::Purpose> {
    Purpose::from_name(s).map(|p| p.wire)
}

/// The legal basis recorded for a wire purpose.
pub fn legal_basis(p: pb::Purpose) -> &'static str {
    Purpose::from_wire(p)
        .map(|p| p.legal_basis)
        .unwrap_or("住房公积金管理条例 / 信息互认")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_wire_purpose_but_unspecified_is_defined_once() {
        for v in 0..16 {
            let Ok(w) = pb::Purpose::try_from(v) else {
                continue;
            };
            let n = PURPOSES.iter().filter(|p| p.wire == w).count();
            assert_eq!(n, usize::from(w != pb::Purpose::Unspecified), "{w:?}");
        }
        assert_eq!(
            purpose_from_name("transfer-check"),
            Some(pb::Purpose::TransferCheck)
        );
        assert_eq!(purpose_from_name("nonsense"), None);
        assert_eq!(purpose_name(pb::Purpose::Unspecified), "unspecified");
    }
}
