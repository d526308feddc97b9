#pragma once
// 03-randomize-cron's pure part, for tests.

#include <string>
#include <vector>

namespace guestkit::plugins::boot {

// Gives /etc/crontab's run-parts lines for cron.hourly/daily/weekly/monthly a minute
// (and, but for hourly, an hour between 0 and 5) derived from `seed`, keeping the
// other fields and the spacing. Fields that are not plain numbers are left alone.
// True if changed.
bool spread_crontab(std::vector<std::string>& lines, const std::string& seed);

}  // namespace guestkit::plugins::boot
