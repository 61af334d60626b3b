#!/bin/sh
# Regenerates the recorded repository in this directory with the real tools
# (Debian packages rpm and createrepo-c): three x86_64/noarch packages, one
# aarch64 decoy, and repodata. The tests do not run this script; they serve
# its output, so that the reader is checked against bytes rpm itself wrote.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
top=$(mktemp -d)
trap 'rm -rf "$top"' EXIT
mkdir -p "$top/SPECS"
cat > "$top/SPECS/demo.spec" <<'SPEC'
%global debug_package %{nil}
%global __os_install_post %{nil}
%global _build_id_links none
%global source_date_epoch_from_changelog 0
Name: demo-lib
Version: 1.2
Release: 3
Summary: demo shared library
License: MIT
AutoReqProv: no
Provides: libdemo.so.1()(64bit)
%description
demo
%package -n demo-tool
Summary: demo tool
Requires: libdemo.so.1()(64bit)
Requires: /bin/demo-sh
Requires: demo-lib >= 1.2-1
%description -n demo-tool
demo tool
%install
mkdir -p %{buildroot}/usr/lib64 %{buildroot}/usr/bin %{buildroot}/usr/share/demo/empty
printf 'lib\n' > %{buildroot}/usr/lib64/libdemo.so.1
printf '#!/bin/demo-sh\necho demo\n' > %{buildroot}/usr/bin/demo
ln %{buildroot}/usr/bin/demo %{buildroot}/usr/bin/demo-hard
ln -s demo %{buildroot}/usr/bin/demo-link
printf 'suid\n' > %{buildroot}/usr/bin/demo-suid
printf 'data\n' > %{buildroot}/usr/share/demo/data.txt
%files
%attr(0755,root,root) /usr/lib64/libdemo.so.1
%files -n demo-tool
%attr(0755,root,root) /usr/bin/demo
%attr(0755,root,root) /usr/bin/demo-hard
/usr/bin/demo-link
%attr(4755,root,root) /usr/bin/demo-suid
%dir %attr(0755,root,root) /usr/share/demo
%dir %attr(0750,root,root) /usr/share/demo/empty
%attr(0644,root,root) /usr/share/demo/data.txt
SPEC
cat > "$top/SPECS/shell.spec" <<'SPEC'
%global source_date_epoch_from_changelog 0
Name: demo-shell
Version: 2.0
Release: 1
Summary: demo shell
License: MIT
BuildArch: noarch
AutoReqProv: no
%description
demo shell
%install
mkdir -p %{buildroot}/bin
printf '#!/bin/true\n' > %{buildroot}/bin/demo-sh
%files
%attr(0755,root,root) /bin/demo-sh
SPEC
export SOURCE_DATE_EPOCH=1600000000
for spec in demo shell; do
  rpmbuild --quiet --define "_topdir $top" --define '_binary_payload w9.xzdio' \
    --define '_buildhost rtbuild' --target x86_64 -bb "$top/SPECS/$spec.spec"
done
# The aarch64 decoy has a higher release: it must never be chosen for x86_64.
sed -e 's/^Release: 3$/Release: 9/' "$top/SPECS/demo.spec" > "$top/SPECS/demo-arm.spec"
rpmbuild --quiet --define "_topdir $top" --define '_binary_payload w19.zstdio' \
  --define '_buildhost rtbuild' --target aarch64 -bb "$top/SPECS/demo-arm.spec"
rm -rf "$here/Packages" "$here/repodata"
mkdir -p "$here/Packages"
find "$top/RPMS" -name '*.rpm' -exec cp {} "$here/Packages/" \;
createrepo_c --quiet --no-database --simple-md-filenames --revision 1 --set-timestamp-to-revision "$here"
