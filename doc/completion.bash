# bash completion for upkeep's programs (svc, svstat, svok, supervise,
# svscan, svscanboot). Service directories are completed from the current
# directory, or from /service when the word names none there.

_upkeep_service_dirs() {
    local cur=$1
    local IFS=$'\n'
    COMPREPLY=($(compgen -d -- "$cur"))
    if [ ${#COMPREPLY[@]} -eq 0 ] && [ -d /service ] && [ "${cur#/}" = "$cur" ]; then
        COMPREPLY=($(cd /service 2>/dev/null && compgen -d -P /service/ -- "$cur"))
    fi
}

_upkeep() {
    local cur prev
    cur=${COMP_WORDS[COMP_CWORD]}
    prev=${COMP_WORDS[COMP_CWORD-1]}
    case ${COMP_WORDS[0]##*/} in
    svc)
        case $prev in
        -w) COMPREPLY=($(compgen -W 'u U d D r R' -- "$cur")); return ;;
        -T) return ;;
        esac
        if [ "${cur#-}" != "$cur" ]; then
            COMPREPLY=($(compgen -W '-u -d -o -p -c -h -a -i -t -k -x -q -1 -2 -K -w -T --help --version' -- "$cur"))
            return
        fi
        _upkeep_service_dirs "$cur" ;;
    svstat)
        if [ "${cur#-}" != "$cur" ]; then
            COMPREPLY=($(compgen -W '-l --json --prom --help --version' -- "$cur"))
            return
        fi
        _upkeep_service_dirs "$cur" ;;
    svok | supervise | svscan | svscanboot)
        if [ "${cur#-}" != "$cur" ]; then
            COMPREPLY=($(compgen -W '--help --version' -- "$cur"))
            return
        fi
        _upkeep_service_dirs "$cur" ;;
    esac
}

complete -F _upkeep svc svstat svok supervise svscan svscanboot
