//! Table definitions shared by the SQLite and PostgreSQL migrations (column types chosen to
//! mean the same on both).

diesel::table! {
    localities (code) {
        code -> Text,
        name -> Text,
        level -> Text,
        parent_code -> Nullable<Text>,
    }
}

diesel::table! {
    agencies (code) {
        code -> Text,
        name -> Text,
        locality_code -> Text,
    }
}

diesel::table! {
    waves (id) {
        id -> Text,
        name -> Text,
        form_id -> Text,
        status -> Text,
        opens_on -> Nullable<Text>,
        closes_on -> Nullable<Text>,
        created_at -> Timestamp,
        period_from -> Nullable<Text>,
        period_to -> Nullable<Text>,
        closed_at -> Nullable<Timestamp>,
        purged_at -> Nullable<Timestamp>,
        mail_subject -> Nullable<Text>,
        mail_body -> Nullable<Text>,
        last_reminder_run -> Nullable<Text>,
        desk_codes -> Bool,
        invitation_count -> BigInt,
        form_version -> Nullable<Text>,
        form_hash -> Nullable<Text>,
        min_cell -> Nullable<BigInt>,
        weighting -> Text,
    }
}

diesel::table! {
    closed_wave_localities (wave_id, code) {
        wave_id -> Text,
        code -> Text,
        name -> Text,
        level -> Text,
        parent_code -> Nullable<Text>,
    }
}

diesel::table! {
    pinned_forms (content_hash) {
        content_hash -> Text,
        form_id -> Text,
        version -> Text,
        content -> Text,
    }
}

diesel::table! {
    wave_localities (wave_id, locality_code) {
        wave_id -> Text,
        locality_code -> Text,
    }
}

diesel::table! {
    wave_agencies (wave_id, agency_code) {
        wave_id -> Text,
        agency_code -> Text,
    }
}

diesel::table! {
    invitations (code_hash) {
        code_hash -> Text,
        wave_id -> Text,
        locality_code -> Text,
        agency_code -> Text,
        used -> Bool,
        channel -> Text,
        sent_by -> Nullable<Text>,
    }
}

diesel::table! {
    responses (id) {
        id -> Text,
        wave_id -> Text,
        locality_code -> Text,
        agency_code -> Text,
        submitted_on -> Text,
        answers -> Text,
        channel -> Text,
    }
}

diesel::table! {
    tally_layouts (wave_id) {
        wave_id -> Text,
        slots -> Text,
    }
}

diesel::table! {
    result_cells (wave_id, level, locality_code, agency_code, channel) {
        wave_id -> Text,
        level -> Text,
        locality_code -> Text,
        agency_code -> Text,
        channel -> Text,
        responses -> BigInt,
        counts -> Binary,
    }
}

diesel::table! {
    users (id) {
        id -> Text,
        email -> Text,
        password_hash -> Text,
        role -> Text,
        agency_code -> Nullable<Text>,
        created_at -> Timestamp,
        disabled_at -> Nullable<Timestamp>,
        failed_sign_ins -> Integer,
        last_failed_sign_in_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    auth_tokens (token_hash) {
        token_hash -> Text,
        user_id -> Text,
        kind -> Text,
        expires_at -> Timestamp,
    }
}

diesel::table! {
    audit_log (id) {
        id -> BigInt,
        at -> Timestamp,
        actor_id -> Text,
        action -> Text,
        target -> Text,
    }
}

diesel::table! {
    instance_secrets (name) {
        name -> Text,
        value -> Text,
    }
}

diesel::table! {
    list_uploads (id) {
        id -> Text,
        wave_id -> Text,
        agency_code -> Text,
        uploaded_by -> Text,
        uploaded_at -> Timestamp,
        status -> Text,
        rows -> BigInt,
        accepted -> BigInt,
        rejected -> BigInt,
        column_map -> Text,
        import_started_at -> Nullable<Timestamp>,
        failure -> Nullable<Text>,
    }
}

diesel::table! {
    list_lines (upload_id, line) {
        upload_id -> Text,
        line -> BigInt,
        status -> Text,
        reason -> Text,
    }
}

diesel::table! {
    list_files (upload_id, seq) {
        upload_id -> Text,
        seq -> BigInt,
        bytes -> Binary,
    }
}

diesel::table! {
    contacts (id) {
        id -> Text,
        upload_id -> Text,
        wave_id -> Text,
        agency_code -> Text,
        locality_code -> Text,
        line -> BigInt,
        name -> Text,
        address -> Nullable<Text>,
        phone -> Nullable<Text>,
        email -> Nullable<Text>,
        procedure_name -> Nullable<Text>,
        completed_on -> Nullable<Text>,
        kind -> Text,
        selection -> Text,
        stratum -> Nullable<Text>,
        draw_rank -> Nullable<BigInt>,
        invite_code -> Nullable<Text>,
        code_hash -> Nullable<Text>,
        channel -> Nullable<Text>,
        delivery -> Nullable<Text>,
        assigned_to -> Nullable<Text>,
        reminders_sent -> BigInt,
        last_contacted_at -> Nullable<Timestamp>,
        reminder_run -> Nullable<Text>,
    }
}

diesel::table! {
    sample_draws (id) {
        id -> Text,
        wave_id -> Text,
        drawn_by -> Text,
        drawn_at -> Timestamp,
        seed -> BigInt,
        design -> Text,
        strata -> Text,
    }
}

diesel::table! {
    mail_queue (id) {
        id -> Text,
        wave_id -> Text,
        contact_id -> Text,
        kind -> Text,
        status -> Text,
        attempts -> BigInt,
        next_attempt_at -> Timestamp,
        claimed_at -> Nullable<Timestamp>,
        last_error -> Nullable<Text>,
        channel -> Text,
    }
}

diesel::allow_tables_to_appear_in_same_query!(
    pinned_forms,
    closed_wave_localities,
    localities,
    agencies,
    waves,
    wave_localities,
    wave_agencies,
    invitations,
    responses,
    tally_layouts,
    result_cells,
    users,
    auth_tokens,
    audit_log,
    instance_secrets,
    list_uploads,
    list_lines,
    list_files,
    contacts,
    sample_draws,
    mail_queue,
);

diesel::table! {
    locality_crosswalk (old_code) {
        old_code -> Text,
        new_code -> Text,
    }
}

diesel::table! {
    locality_tree_version (id) {
        id -> Integer,
        version -> BigInt,
    }
}
