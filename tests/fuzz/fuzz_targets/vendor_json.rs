//! The vendor core's JSON answers (adapters vendorapi/wire.rs), decoded as the client decodes
//! them: a page of members, transactions or loans (each item through `item` and its mapping
//! onto the canonical model), a single member, a reservation, a credit, a token, an error
//! envelope.
#![no_main]

use hfx_adapters::vendorapi::wire::{
    CreditDto, ErrorDto, LoanDto, MemberDto, PageDto, ReservationDto, TokenDto, TxnDto, deposit_of,
    item, loan_of, member_of, w_money, w_rate,
};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fn each_item(v: Value) {
    let _ = item::<MemberDto>(v.clone(), "member account", "acctNo").and_then(member_of);
    let _ = item::<LoanDto>(v.clone(), "loan contract", "contractNo").and_then(loan_of);
    if let Ok(d) = serde_json::from_value::<TxnDto>(v.clone()) {
        let _ = deposit_of(d, "txn");
    }
    if let Ok(d) = serde_json::from_value::<ReservationDto>(v.clone()) {
        let _ = w_money("r", "heldPrincipal", &d.held_principal);
        let _ = w_money("r", "heldInterest", &d.held_interest);
    }
    if let Ok(d) = serde_json::from_value::<CreditDto>(v) {
        let _ = w_money("c", "amount", &d.amount);
    }
}

fuzz_target!(|data: &[u8]| {
    let _ = serde_json::from_slice::<TokenDto>(data);
    let _ = serde_json::from_slice::<ErrorDto>(data);
    let Ok(v) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    if let Ok(p) = serde_json::from_value::<PageDto>(v.clone()) {
        for it in p.items {
            each_item(it);
        }
    } else {
        each_item(v.clone());
    }
    if let Some(s) = v.as_str() {
        let _ = w_rate("x", "rate", Some(s));
    }
});
