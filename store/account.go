package store

import (
	"encoding/json"
	"fmt"
	"time"

	epermitv1 "github.com/yrd-epermit/epermit/proto/epermit/v1"
)

// accountRecord is the JSON form in which every store keeps an account;
// roles and kind are kept by name.
type accountRecord struct {
	Name       string    `json:"name"`
	Division   string    `json:"division,omitempty"`
	Roles      []string  `json:"roles,omitempty"`
	Kind       string    `json:"kind,omitempty"`
	Disabled   bool      `json:"disabled,omitempty"`
	Note       string    `json:"note,omitempty"`
	TokenHash  []byte    `json:"token_hash,omitempty"`
	CreateTime time.Time `json:"create_time,omitzero"`
	UpdateTime time.Time `json:"update_time,omitzero"`
	TokenTime  time.Time `json:"token_time,omitzero"`
}

// EncodeAccount returns the JSON record of a, the form every store keeps
// accounts in.
func EncodeAccount(a *Account) ([]byte, error) {
	r := accountRecord{
		Name: a.Name, Division: a.Division, Disabled: a.Disabled, Note: a.Note,
		TokenHash: a.TokenHash, CreateTime: a.CreateTime, UpdateTime: a.UpdateTime, TokenTime: a.TokenTime,
	}
	if a.Kind != epermitv1.AccountKind_ACCOUNT_KIND_UNSPECIFIED {
		var ok bool
		if r.Kind, ok = epermitv1.AccountKind_name[int32(a.Kind)]; !ok {
			return nil, fmt.Errorf("store: account %s: unknown kind %d", a.Name, a.Kind)
		}
	}
	for _, role := range a.Roles {
		name, ok := epermitv1.Role_name[int32(role)]
		if !ok {
			return nil, fmt.Errorf("store: account %s: unknown role %d", a.Name, role)
		}
		r.Roles = append(r.Roles, name)
	}
	b, err := json.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("store: encode account %s: %w", a.Name, err)
	}
	return b, nil
}

// DecodeAccount parses the JSON record of the account with this name.
func DecodeAccount(name string, data []byte) (*Account, error) {
	var r accountRecord
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("store: decode account %s: %w", name, err)
	}
	a := &Account{
		Name: r.Name, Division: r.Division, Disabled: r.Disabled, Note: r.Note,
		TokenHash: r.TokenHash, CreateTime: r.CreateTime, UpdateTime: r.UpdateTime, TokenTime: r.TokenTime,
	}
	if r.Kind != "" {
		v, ok := epermitv1.AccountKind_value[r.Kind]
		if !ok {
			return nil, fmt.Errorf("store: decode account %s: unknown kind %q", name, r.Kind)
		}
		a.Kind = epermitv1.AccountKind(v)
	}
	for _, role := range r.Roles {
		v, ok := epermitv1.Role_value[role]
		if !ok {
			return nil, fmt.Errorf("store: decode account %s: unknown role %q", name, role)
		}
		a.Roles = append(a.Roles, epermitv1.Role(v))
	}
	return a, nil
}
