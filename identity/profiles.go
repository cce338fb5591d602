package identity

import "strconv"

// fileUser is a user as the users file writes one: the User's keys, and
// each dialect profile as a block of its own, read strictly (an unknown
// key is refused, as everywhere in the file) and kept as a Profile.
type fileUser struct {
	User `yaml:",inline"`
	// BO is the bo v3 profile block (the bov3 dialect reads it: what its
	// tokenUser and access token carry; owners are the XownerId projects
	// the user may log in under).
	BO *boBlock `yaml:"bo"`
}

// boBlock is the users file's bo block. Its keys are the file's format;
// what they mean, and their defaults, are the bov3 dialect's.
type boBlock struct {
	UserID      string   `yaml:"user_id"`
	ClientID    string   `yaml:"client_id"`
	PushName    string   `yaml:"push_name"`
	HeadIcon    string   `yaml:"head_icon"`
	RoleID      []string `yaml:"role_id"`
	DepID       []string `yaml:"dep_id"`
	AreaCode    []string `yaml:"area_code"`
	JobID       []string `yaml:"job_id"`
	SysID       []string `yaml:"sys_id"`
	MergeUserID []string `yaml:"merge_user_id"`
	Developer   int      `yaml:"developer"`
	Owners      []string `yaml:"owners"`
}

// user is the file's user with its profiles.
func (f fileUser) user() User {
	u := f.User
	if f.BO != nil {
		b := f.BO
		p := Profile{
			"role_id": b.RoleID, "dep_id": b.DepID, "area_code": b.AreaCode, "job_id": b.JobID,
			"sys_id": b.SysID, "merge_user_id": b.MergeUserID, "owners": b.Owners,
			"developer": {strconv.Itoa(b.Developer)},
		}
		for field, v := range map[string]string{"user_id": b.UserID, "client_id": b.ClientID, "push_name": b.PushName, "head_icon": b.HeadIcon} {
			if v != "" {
				p[field] = []string{v}
			}
		}
		u.Profiles = map[string]Profile{"bo": p}
	}
	return u
}
