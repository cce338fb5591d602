package bov3

import (
	"strconv"

	"github.com/authgate/authgate/identity"
)

// Profile is a user's bo v3 profile: what tokenUser and the access
// token's claims carry. The directories hand it over as the user's "bo"
// identity.Profile (the users file's bo block, the sql directory's bo_*
// columns, the http directory's bo_* fields); its meaning and defaults
// are this dialect's.
type Profile struct {
	// UserID is tokenUser.userId and the token's id claim; default the
	// account. ClientID defaults to UserID.
	UserID, ClientID, PushName, HeadIcon string
	RoleID, DepID, AreaCode, JobID       []string
	SysID, MergeUserID                   []string
	Developer                            int
	// Owners are the projects (XownerId) the user may log in under;
	// empty allows any.
	Owners []string
}

// boUser is a directory user with the bo profile read from it; BO is nil
// for a user without one, who cannot log in here.
type boUser struct {
	identity.User
	BO *Profile
}

// asBO reads u's bo profile.
func asBO(u identity.User) boUser {
	p, ok := u.Profiles["bo"]
	if !ok {
		return boUser{User: u}
	}
	bo := &Profile{
		UserID: p.First("user_id"), ClientID: p.First("client_id"), PushName: p.First("push_name"), HeadIcon: p.First("head_icon"),
		RoleID: p["role_id"], DepID: p["dep_id"], AreaCode: p["area_code"], JobID: p["job_id"],
		SysID: p["sys_id"], MergeUserID: p["merge_user_id"], Owners: p["owners"],
	}
	bo.Developer, _ = strconv.Atoi(p.First("developer"))
	if bo.UserID == "" {
		bo.UserID = u.Account
	}
	if bo.ClientID == "" {
		bo.ClientID = bo.UserID
	}
	return boUser{User: u, BO: bo}
}
